package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// TestDaemonPortForwardUpload is the kubelet-node case through the daemon: a pod runs
// `nc -l -p 9000 > /tmp/upload` (no stdin: nc shuts its sending side at once), a port-forward
// client (the SPDY protocol crictl and kubectl speak) sends 200000 bytes and closes its side
// at once, and the file in the pod must hold every byte.
func TestDaemonPortForwardUpload(t *testing.T) {
	e := newDaemonEnv(t)
	e.pullBusybox()
	pod := e.podConfig("pf-upload")
	podID := e.runPod(pod)
	defer e.removePod(podID)
	cid := e.startContainer(podID, pod, shContainer("nc", "nc -l -p 9000 > /tmp/upload; touch /tmp/done; sleep 3600"))
	// 9000 = 0x2328; state 0A = LISTEN (busybox nc listens on a dual-stack IPv6 socket).
	e.waitExec(cid, "cat /proc/net/tcp /proc/net/tcp6 | grep -q ':2328 0*:0000 0A' && echo up", "up")

	ctx, cancel := e.ctx()
	defer cancel()
	resp, err := e.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{9000}})
	if err != nil {
		t.Fatal(err)
	}
	conn := spdyConnect(t, resp.Url)
	defer conn.Close()
	hdr := func(typ string) http.Header {
		return http.Header{"Streamtype": {typ}, "Port": {"9000"}, "Requestid": {"1"}}
	}
	errS, err := conn.CreateStream(hdr("error"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := conn.CreateStream(hdr("data"))
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 200000)
	_, _ = io.ReadFull(rand.NewChaCha8([32]byte{9}), payload)
	if _, err := data.Write(payload); err != nil {
		t.Fatal(err)
	}
	data.Close() // half-close, as `nc 127.0.0.1 PORT < file` does
	if back, err := io.ReadAll(data); err != nil || len(back) > 0 {
		t.Fatalf("pod sent %d bytes back: %v", len(back), err)
	}
	if msg, _ := io.ReadAll(errS); len(msg) > 0 {
		t.Fatalf("port forward error: %s", msg)
	}
	sum := sha256.Sum256(payload)
	e.waitExec(cid, "test -e /tmp/done && wc -c < /tmp/upload && sha256sum < /tmp/upload",
		"200000\n"+hex.EncodeToString(sum[:]))
}

// spdyConnect upgrades a connection to a streaming URL for port forwarding.
func spdyConnect(t *testing.T, url string) httpstream.Connection {
	t.Helper()
	rt, err := spdy.NewRoundTripper(nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(httpstream.HeaderProtocolVersion, "portforward.k8s.io")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		t.Fatalf("upgrade %s: %v", url, err)
	}
	return conn
}

// waitExec runs script in the container until its output starts with want (30 s at most).
func (e *daemonEnv) waitExec(cid, script, want string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cid, Cmd: []string{"sh", "-c", script}, Timeout: 5})
		cancel()
		if err == nil {
			last = strings.TrimSpace(string(r.Stdout)) + string(r.Stderr)
			if strings.HasPrefix(last, want) {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("%q in container %s: got %q, want %q", script, cid, last, want)
}
