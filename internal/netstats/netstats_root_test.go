package netstats

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// onThreadIn runs fn on a throwaway OS thread that has joined ns (the thread is never
// returned to the Go scheduler, so no other goroutine ends up in ns).
func onThreadIn(t *testing.T, ns netns.NsHandle, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// procNetDev parses /proc/thread-self/net/dev: name → [rx bytes, rx packets, tx bytes, tx packets].
func procNetDev() (map[string][4]uint64, error) {
	f, err := os.Open("/proc/thread-self/net/dev")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][4]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) < 10 {
			continue
		}
		var v [4]uint64
		for i, idx := range []int{0, 1, 8, 9} {
			v[i], _ = strconv.ParseUint(fs[idx], 10, 64)
		}
		out[strings.TrimSpace(name)] = v
	}
	return out, sc.Err()
}

// TestReadAgreesWithProcNetDev pins a netns with a veth peer, sends traffic into it and
// checks Read against the netns's /proc/net/dev (within 5%).
func TestReadAgreesWithProcNetDev(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	pin := filepath.Join(t.TempDir(), "net")
	host, peer := "obh"+suffix, "obp"+suffix
	var ns netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		n, err := netns.New() // this thread now lives in the new netns
		if err == nil {
			ns = n
			err = pinTo(pin)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer unpin(pin)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: peer}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = netlink.LinkDel(veth) }()
	pl, err := netlink.LinkByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(pl, int(ns)); err != nil {
		t.Fatal(err)
	}
	hl, _ := netlink.LinkByName(host)
	hostIP, peerIP := "10.251."+strconv.Itoa(int(b[0]))+".1", "10.251."+strconv.Itoa(int(b[0]))+".2"
	addr, _ := netlink.ParseAddr(hostIP + "/30")
	if err := netlink.AddrAdd(hl, addr); err != nil {
		t.Fatal(err)
	}
	_ = netlink.LinkSetUp(hl)
	onThreadIn(t, ns, func() error {
		l, err := netlink.LinkByName(peer)
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(peerIP + "/30")
		if err := netlink.AddrAdd(l, a); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	// Packets sent before the veth has carrier are dropped: wait for it.
	for i := 0; i < 500; i++ {
		if l, err := netlink.LinkByName(host); err == nil && l.Attrs().OperState == netlink.OperUp {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := net.Dial("udp", peerIP+":9")
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1000)
	for range 500 {
		_, _ = conn.Write(payload)
	}
	conn.Close()
	// Stray traffic (IPv6 autoconf, ICMP) may still flow: bracket the netlink read between
	// two /proc/net/dev reads.
	var before, after map[string][4]uint64
	onThreadIn(t, ns, func() (err error) { before, err = procNetDev(); return err })
	got, err := Read(pin)
	if err != nil {
		t.Fatal(err)
	}
	onThreadIn(t, ns, func() (err error) { after, err = procNetDev(); return err })
	if len(got) != 1 || got[0].Name != peer {
		t.Fatalf("interfaces %+v, want only %s", got, peer)
	}
	g, b0, b1 := got[0], before[peer], after[peer]
	t.Logf("netlink %+v; /proc/net/dev before %v after %v", g, b0, b1)
	for i, v := range []uint64{g.RxBytes, g.RxPackets, g.TxBytes, g.TxPackets} {
		if v < b0[i] || v > b1[i] || !within(v, b1[i], 5) {
			t.Errorf("counter %d: netlink %d outside /proc/net/dev [%d, %d] or off by more than 5%%", i, v, b0[i], b1[i])
		}
	}
	if g.RxBytes < 400*1000 || g.RxPackets < 400 { // the first few wait for ARP and may drop
		t.Errorf("rx %d bytes %d packets, want ≥ 400 kB and 400 packets", g.RxBytes, g.RxPackets)
	}
}

func within(a, b uint64, pct float64) bool {
	d := float64(a) - float64(b)
	if d < 0 {
		d = -d
	}
	return d <= pct/100*float64(max(a, b))
}
