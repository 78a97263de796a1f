package cri

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream"
)

// received is what a pod-side server got on one connection.
type received struct {
	n   int64
	sum [sha256.Size]byte
	err error
}

// podListener listens on the host loopback (hostDialer dials there for pod1) and serves each
// connection with serve on its own goroutine.
func podListener(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c.(*net.TCPConn))
			}()
		}
	}()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// ncListen behaves like `nc -l -p PORT > file` with stdin at EOF: it shuts its sending side
// at once, then reads until the client's EOF and reports the bytes and their checksum.
func ncListen(t *testing.T) (string, <-chan received) {
	got := make(chan received, 8)
	port := podListener(t, func(c *net.TCPConn) {
		_ = c.CloseWrite()
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r received
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		got <- r
	})
	return port, got
}

// payload is size reproducible pseudo-random bytes.
func payload(seed byte, size int) []byte {
	b := make([]byte, size)
	_, _ = io.ReadFull(rand.NewChaCha8([32]byte{seed}), b)
	return b
}

// spdyForward opens a SPDY port-forward connection (the protocol crictl and kubectl speak) to
// pod1.
func spdyForward(t *testing.T, rc runtimeapi.RuntimeServiceClient) httpstream.Connection {
	t.Helper()
	resp, err := rc.PortForward(context.Background(), &runtimeapi.PortForwardRequest{PodSandboxId: "pod1"})
	if err != nil {
		t.Fatal(err)
	}
	return spdyDial(t, resp.Url, "portforward.k8s.io")
}

// upload sends data on a new stream pair for port, closes its sending side at once (as
// `nc host port < file` does), reads the pod's side to its end and returns what came back and
// the error stream's content.
func upload(t *testing.T, conn httpstream.Connection, port, reqID string, data []byte) ([]byte, string) {
	t.Helper()
	errS := newStream(t, conn, "streamType", "error", "port", port, "requestID", reqID)
	ds := newStream(t, conn, "streamType", "data", "port", port, "requestID", reqID)
	if _, err := ds.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil { // half-close
		t.Fatal(err)
	}
	back, err := io.ReadAll(ds)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(errS)
	return back, string(msg)
}

func wantReceived(t *testing.T, got <-chan received, data []byte) {
	t.Helper()
	select {
	case r := <-got:
		if r.err != nil || r.n != int64(len(data)) || r.sum != sha256.Sum256(data) {
			t.Fatalf("pod received %d of %d bytes (checksum match %v): %v", r.n, len(data), r.sum == sha256.Sum256(data), r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the pod side never saw the end of the upload")
	}
}

// TestPortForwardUploadHalfClose is the kubelet-node defect: a client sends 200000 bytes and
// closes its side at once, to a pod server that never sends anything (nc -l > file). All
// bytes must arrive, though the pod's side of the connection ended first.
func TestPortForwardUploadHalfClose(t *testing.T) {
	rc, _ := streamingServer(t)
	port, got := ncListen(t)
	conn := spdyForward(t, rc)
	data := payload(1, 200000)
	back, msg := upload(t, conn, port, "1", data)
	if len(back) != 0 || msg != "" {
		t.Fatalf("pod sent %d bytes back, error stream %q", len(back), msg)
	}
	wantReceived(t, got, data)

	// A second connection on the same forward works the same way.
	data2 := payload(2, 300000)
	back, msg = upload(t, conn, port, "2", data2)
	if len(back) != 0 || msg != "" {
		t.Fatalf("second connection: pod sent %d bytes back, error stream %q", len(back), msg)
	}
	wantReceived(t, got, data2)
}

// TestPortForwardTwoConnectionsAtOnce runs two uploads concurrently on one forward.
func TestPortForwardTwoConnectionsAtOnce(t *testing.T) {
	rc, _ := streamingServer(t)
	port, got := ncListen(t)
	conn := spdyForward(t, rc)
	a, b := payload(3, 200000), payload(4, 200000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		upload(t, conn, port, "1", a)
	}()
	upload(t, conn, port, "2", b)
	<-done
	sums := map[[sha256.Size]byte]bool{sha256.Sum256(a): true, sha256.Sum256(b): true}
	for range 2 {
		r := <-got
		if r.err != nil || r.n != 200000 || !sums[r.sum] {
			t.Fatalf("pod received %d bytes (known checksum %v): %v", r.n, sums[r.sum], r.err)
		}
		delete(sums, r.sum)
	}
}

// TestPortForwardDownload reads 1 MiB that the pod sends before closing, while the client has
// not closed its side: the client sees every byte and then the end of the stream.
func TestPortForwardDownload(t *testing.T) {
	rc, _ := streamingServer(t)
	data := payload(5, 1<<20)
	port := podListener(t, func(c *net.TCPConn) { _, _ = c.Write(data) })
	conn := spdyForward(t, rc)
	errS := newStream(t, conn, "streamType", "error", "port", port, "requestID", "1")
	ds := newStream(t, conn, "streamType", "data", "port", port, "requestID", "1")
	back, err := io.ReadAll(ds)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("downloaded %d of %d bytes (equal %v): %v", len(back), len(data), bytes.Equal(back, data), err)
	}
	ds.Close()
	if msg, _ := io.ReadAll(errS); len(msg) > 0 {
		t.Fatalf("error stream: %s", msg)
	}
}

// TestPortForwardPodClosedClientSilent: the pod closes its connection and the client neither
// sends nor closes. The session must still end (a client waiting for the end of the
// connection would wait forever otherwise), once the client stayed silent for the grace
// period.
func TestPortForwardPodClosedClientSilent(t *testing.T) {
	old := portForwardClientIdle
	portForwardClientIdle = 100 * time.Millisecond
	t.Cleanup(func() { portForwardClientIdle = old })
	rc, _ := streamingServer(t)
	port := podListener(t, func(c *net.TCPConn) { _, _ = c.Write([]byte("bye")) })
	conn := spdyForward(t, rc)
	errS := newStream(t, conn, "streamType", "error", "port", port, "requestID", "1")
	ds := newStream(t, conn, "streamType", "data", "port", port, "requestID", "1")
	if back, err := io.ReadAll(ds); err != nil || string(back) != "bye" {
		t.Fatalf("read %q: %v", back, err)
	}
	ended := make(chan string, 1)
	go func() {
		msg, _ := io.ReadAll(errS) // ends when the session ends
		ended <- string(msg)
	}()
	select {
	case msg := <-ended:
		if msg != "" {
			t.Fatalf("error stream: %s", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the session never ended after the pod closed and the client stayed silent")
	}
}

// wsForward opens a websocket port-forward (channel.k8s.io v4) to port of pod1.
func wsForward(t *testing.T, rc runtimeapi.RuntimeServiceClient, port string) *websocket.Conn {
	t.Helper()
	var p int32
	fmt.Sscan(port, &p)
	resp, err := rc.PortForward(context.Background(), &runtimeapi.PortForwardRequest{PodSandboxId: "pod1", Port: []int32{p}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := websocket.NewConfig(strings.Replace(resp.Url, "http://", "ws://", 1), "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{"v4.channel.k8s.io"}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// wsRead reads messages until the connection ends and returns the data channel's bytes
// (after its 2-byte port header) and the error channel's.
func wsRead(ws *websocket.Conn) (data, errs []byte) {
	seen := map[byte]bool{}
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil || len(msg) == 0 {
			return data, errs
		}
		ch, body := msg[0], msg[1:]
		if !seen[ch] && len(body) >= 2 { // each channel's first bytes are the port
			seen[ch], body = true, body[2:]
		}
		switch ch {
		case 0:
			data = append(data, body...)
		case 1:
			errs = append(errs, body...)
		}
	}
}

// TestPortForwardWebsocket checks the websocket protocol: a download that the pod ends
// reaches the client whole (the connection ends once the client stayed silent for the grace
// period), and an upload to a pod that closed its sending side first reaches the pod whole.
func TestPortForwardWebsocket(t *testing.T) {
	rc, _ := streamingServer(t)
	down := payload(6, 1<<20)
	dport := podListener(t, func(c *net.TCPConn) { _, _ = c.Write(down) })
	back, errs := wsRead(wsForward(t, rc, dport))
	if !bytes.Equal(back, down) || len(errs) > 0 {
		t.Fatalf("websocket download: %d of %d bytes (equal %v), error channel %q", len(back), len(down), bytes.Equal(back, down), errs)
	}

	// The pod shuts its sending side at once and reads exactly the upload's size: the
	// protocol cannot half-close, so the client learns the end from the pod, not from EOF.
	up := payload(7, 200000)
	got := make(chan received, 1)
	uport := podListener(t, func(c *net.TCPConn) {
		_ = c.CloseWrite()
		buf := make([]byte, len(up))
		n, err := io.ReadFull(c, buf)
		got <- received{n: int64(n), sum: sha256.Sum256(buf), err: err}
	})
	ws := wsForward(t, rc, uport)
	go wsRead(ws) // the port headers: leave nothing unread at close
	for off := 0; off < len(up); off += 32 << 10 {
		chunk := up[off:min(off+32<<10, len(up))]
		if err := websocket.Message.Send(ws, append([]byte{0}, chunk...)); err != nil {
			t.Fatal(err)
		}
	}
	wantReceived(t, got, up)
}
