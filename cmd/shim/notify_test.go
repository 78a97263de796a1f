package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyReady(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c := listenNotify(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	n := newNotifier()
	if v, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Errorf("NOTIFY_SOCKET=%q still set: children would inherit it", v)
	}
	if err := n.notify("READY=1\nSTATUS=serving"); err != nil {
		t.Fatal(err)
	}
	if got := readNotify(t, c); got != "READY=1\nSTATUS=serving" {
		t.Errorf("got %q", got)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := "crishim-test-notify-" + filepath.Base(t.TempDir())
	c := listenNotify(t, "\x00"+name)
	t.Setenv("NOTIFY_SOCKET", "@"+name)
	if err := newNotifier().notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := readNotify(t, c); got != "READY=1" {
		t.Errorf("got %q", got)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := newNotifier().notify("READY=1"); err != nil {
		t.Errorf("no NOTIFY_SOCKET must be a no-op: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	if err := newNotifier().notify("READY=1"); err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Errorf("unreachable socket: %v", err)
	}
}
