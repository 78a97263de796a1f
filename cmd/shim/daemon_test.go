package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenSocketRefusesLiveDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	lis, err := listenSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, %v; want 0660", fi.Mode().Perm(), err)
	}
	if _, err := listenSocket(sock); err == nil || !strings.Contains(err.Error(), "in use by another running daemon") {
		t.Fatalf("second listen: %v", err)
	}
}

func TestListenSocketRemovesStale(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves the file behind, nobody listening
	lis, err := listenSocket(sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	lis.Close()
}

func TestLockRootExclusive(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockRoot(dir); err == nil {
		t.Error("second lock on the same root succeeded")
	}
	unlock()
	unlock2, err := lockRoot(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
