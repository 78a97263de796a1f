package cni

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// hostportChains are portmap's chains shared by every network on the node.
var hostportChains = []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"}

// rootEnv is one isolated test network: its own bridge, subnet, config dir and state dir.
type rootEnv struct {
	m       *Manager
	cfg     Config
	state   string
	bridge  string
	subnet  *net.IPNet
	leases  string
	ids     []string // every pod id used, for the leak checks
	hadHost bool     // portmap's shared chains existed before the test
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("iptables-save"); err != nil {
		t.Skip("needs iptables")
	}
	for _, d := range DefaultConfig().BinDirs {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			return
		}
	}
	t.Skip("needs the CNI plugins (bridge, host-local, portmap)")
}

// newRootEnv creates a Manager on a fresh default network with a unique bridge and subnet.
func newRootEnv(t *testing.T, binDirs ...string) *rootEnv {
	t.Helper()
	return newRootEnvWith(t, func(c *Config) { c.BinDirs = append(binDirs, c.BinDirs...) })
}

// newRootEnvWith is newRootEnv with a config tweak applied before New.
func newRootEnvWith(t *testing.T, tweak func(*Config)) *rootEnv {
	t.Helper()
	needRoot(t)
	b := make([]byte, 2)
	rand.Read(b)
	e := &rootEnv{bridge: "cnit" + randHex(3), state: t.TempDir(), hadHost: chainExists("CNI-HOSTPORT-DNAT")}
	_, e.subnet, _ = net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", 200+int(b[0])%50, b[1]))
	e.cfg = DefaultConfig()
	e.cfg.ConfDir = filepath.Join(t.TempDir(), "net.d")
	e.cfg.BridgeName = e.bridge
	e.cfg.NetworkName = "cnitest-" + randHex(4)
	e.cfg.DefaultSubnet = e.subnet.String()
	tweak(&e.cfg)
	e.leases = filepath.Join(e.state, "cni", "networks", e.cfg.NetworkName)
	m, err := New(e.cfg, e.state, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

// testLog logs through t.Log at debug level.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// pod creates a pinned netns and a PodNetwork for it.
func (e *rootEnv) pod(t *testing.T, name string) PodNetwork {
	id := randHex(16)
	e.ids = append(e.ids, id)
	return PodNetwork{ID: id, Name: name, Namespace: "cni-test", UID: randHex(8), NetNS: newNetNS(t)}
}

// newNetNS creates a network namespace pinned by a bind mount under a temp dir; the test's
// cleanup unmounts it (which frees it once nothing else holds it).
func newNetNS(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		errc <- unix.Mount(src, path, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		t.Fatalf("pin netns: %v", err)
	}
	t.Cleanup(func() { unpinNetNS(path) })
	return path
}

func unpinNetNS(path string) { unix.Unmount(path, unix.MNT_DETACH) }

// inNetNS runs fn on a thread that joined the netns at path; the thread is discarded after.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// echoServer listens on port inside the netns and echoes one line per connection.
func echoServer(t *testing.T, nsPath string, port int) {
	t.Helper()
	var l net.Listener
	err := inNetNS(nsPath, func() (err error) {
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen in pod: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, io.LimitReader(c, 64))
			}()
		}
	}()
}

// roundTrip dials addr (from the netns at nsPath, or the host when empty) and checks the echo.
func roundTrip(nsPath, addr string) error {
	dial := func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := "hello " + addr
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		if string(got) != msg {
			return fmt.Errorf("echo %q, want %q", got, msg)
		}
		return nil
	}
	if nsPath == "" {
		return dial()
	}
	return inNetNS(nsPath, dial)
}

// freePort returns a TCP port free on the host right now, from 20000–29999: below the
// kernel's ephemeral range (32768+), because a hostPort DNAT rule catches every connection to
// that port on the host — including connections of other tests running at the same time that
// were handed the same port by ":0".
func freePort(t *testing.T) int {
	for range 200 {
		n, err := rand.Int(rand.Reader, big.NewInt(10000))
		if err != nil {
			t.Fatal(err)
		}
		port := 20000 + int(n.Int64())
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port in 20000-29999")
	return 0
}

// hostIP returns a global IPv4 address of the host outside the test network.
func hostIP(e *rootEnv) net.IP {
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().Name == "lo" || l.Type() != "device" || l.Attrs().OperState != netlink.OperUp {
			continue
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if !e.subnet.Contains(a.IP) && a.IP.IsGlobalUnicast() {
				return a.IP
			}
		}
	}
	return nil
}

func chainExists(chain string) bool {
	return exec.Command("iptables", "-w", "-t", "nat", "-S", chain).Run() == nil
}

// assertClean checks that nothing of the test's pods is left on the node.
func (e *rootEnv) assertClean(t *testing.T) {
	t.Helper()
	if br, err := netlink.LinkByName(e.bridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				t.Errorf("leaked link %s on bridge %s", l.Attrs().Name, e.bridge)
			}
		}
	}
	entries, _ := os.ReadDir(e.leases)
	for _, en := range entries {
		if net.ParseIP(en.Name()) != nil {
			t.Errorf("leaked host-local lease %s", en.Name())
		}
	}
	out, err := exec.Command("iptables-save").CombinedOutput()
	if err != nil {
		t.Errorf("iptables-save: %v: %s", err, out)
	}
	if out6, err := exec.Command("ip6tables-save").CombinedOutput(); err == nil {
		out = append(out, out6...)
	}
	for _, id := range e.ids {
		if strings.Contains(string(out), id) {
			t.Errorf("leaked iptables rule of pod %s:\n%s", id, grepLines(string(out), id))
		}
	}
	for _, dir := range []string{e.m.recordDir, filepath.Join(e.m.cacheDir, "results")} {
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("leaked cache entries in %s: %v", dir, entries)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// cleanup tears down every pod left, removes the bridge and portmap's shared chains when the
// test created them and nobody else uses them, then checks nothing is left.
func (e *rootEnv) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.m.GC(ctx, nil); err != nil {
		t.Errorf("cleanup GC: %v", err)
	}
	e.assertClean(t)
	if br, err := netlink.LinkByName(e.bridge); err == nil {
		if err := netlink.LinkDel(br); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	}
	if !e.hadHost {
		removeHostportChains(t)
	}
}

// removeHostportChains removes portmap's shared chains when they hold no pod's rules.
func removeHostportChains(t *testing.T) {
	out, _ := exec.Command("iptables", "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
	if strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
		return // another runtime's pods have hostPorts right now
	}
	for _, j := range [][]string{{"PREROUTING", "CNI-HOSTPORT-DNAT"}, {"OUTPUT", "CNI-HOSTPORT-DNAT"},
		{"POSTROUTING", "CNI-HOSTPORT-MASQ"}} {
		for exec.Command("iptables", "-w", "-t", "nat", "-D", j[0], "-m", "comment", "--comment",
			"CNI portfwd requiring masquerade", "-j", j[1]).Run() == nil {
		}
		for exec.Command("iptables", "-w", "-t", "nat", "-D", j[0], "-m", "addrtype", "--dst-type", "LOCAL",
			"-j", j[1]).Run() == nil {
		}
	}
	for _, c := range hostportChains {
		exec.Command("iptables", "-w", "-t", "nat", "-F", c).Run()
		exec.Command("iptables", "-w", "-t", "nat", "-X", c).Run()
	}
	for _, c := range hostportChains {
		if chainExists(c) {
			out, _ := exec.Command("iptables-save", "-t", "nat").Output()
			t.Logf("could not remove %s (still referenced?):\n%s", c, grepLines(string(out), "CNI-HOSTPORT"))
		}
	}
}

// removeMasqRules deletes the bridge plugin's ipMasq rules of a pod (its POSTROUTING jump and
// chain) and fails the test if any other rule mentions the pod.
func removeMasqRules(t *testing.T, id string) {
	t.Helper()
	out, _ := exec.Command("iptables-save", "-t", "nat").Output()
	var chains []string
	for _, l := range strings.Split(grepLines(string(out), id), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "-A" && f[1] == "POSTROUTING":
			chains = append(chains, f[len(f)-1])
			args := append([]string{"-w", "-t", "nat", "-D"}, splitRule(l[3:])...)
			if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
				t.Errorf("delete %q: %v: %s", l, err, out)
			}
		case f[0] == "-A" && strings.HasPrefix(f[1], "CNI-") && (strings.HasSuffix(l, "-j MASQUERADE") || strings.HasSuffix(l, "-j ACCEPT")):
			// inside the chain: flushed below
		default:
			t.Errorf("unexpected leftover rule of pod %s: %s", id, l)
		}
	}
	for _, c := range chains {
		exec.Command("iptables", "-w", "-t", "nat", "-F", c).Run()
		exec.Command("iptables", "-w", "-t", "nat", "-X", c).Run()
	}
}

// splitRule splits an iptables-save rule into arguments, honouring double quotes.
func splitRule(s string) []string {
	var args []string
	var cur strings.Builder
	inQ, esc := false, false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case r == '"':
			inQ = !inQ
		case r == ' ' && !inQ:
			if cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args
}
