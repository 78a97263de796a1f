package sandbox

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/crishim/crishim/internal/errdefs"
)

// echoServer serves TCP echo on conns accepted from ln until ln closes.
func echoServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// TestRootDialPort100MB sends 100 MB through a connection dialled into the pod's network
// namespace to an echo server that listens only there, and compares checksums.
func TestRootDialPort100MB(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	sb, err := m.Run(ctx, podConfig("pf"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Remove(ctx, sb.ID); err != nil {
			t.Error(err)
		}
	}()
	var ln net.Listener
	inNS(t, sb.NetNSPath, unix.CLONE_NEWNET, func() {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			ln, err = net.Listen("tcp4", "127.0.0.1:0")
		}
		if err != nil {
			t.Error(err)
		}
	})
	if ln == nil {
		t.FailNow()
	}
	defer ln.Close()
	go echoServer(ln)
	port := int32(ln.Addr().(*net.TCPAddr).Port)

	// The port is not reachable from the host: the server lives in the pod's netns only.
	if c, err := net.Dial("tcp4", ln.Addr().String()); err == nil {
		c.Close()
		t.Skipf("port %d is also in use on the host; cannot tell the namespaces apart", port)
	}
	conn, err := m.DialPort(ctx, sb.ID, port)
	if err != nil {
		t.Fatalf("DialPort: %v", err)
	}
	defer conn.Close()
	const size = 100 << 20
	sent, got := sha256.New(), sha256.New()
	src := rand.NewChaCha8([32]byte{7})
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(conn, sent), io.LimitReader(src, size))
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		done <- err
	}()
	n, err := io.Copy(got, conn)
	if err != nil || n != size {
		t.Fatalf("echo: %d bytes, %v", n, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(sent.Sum(nil)) != string(got.Sum(nil)) {
		t.Fatal("checksum mismatch after 100 MB")
	}

	if _, err := m.DialPort(ctx, sb.ID, 0); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("port 0: %v", err)
	}
	if _, err := m.DialPort(ctx, sb.ID, 65536); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("port 65536: %v", err)
	}
	if _, err := m.DialPort(ctx, "nope", port); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown pod: %v", err)
	}
	ln.Close()
	if _, err := m.DialPort(ctx, sb.ID, port); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}
