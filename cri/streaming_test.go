package cri

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"

	"github.com/crishim/crishim/runtime"
)

// hostDialer dials the port on the host loopback for any known pod (the netns part is
// tested in sandbox).
type hostDialer struct{ pods fakeSandboxes }

func (d hostDialer) DialPort(ctx context.Context, podID string, port int32) (net.Conn, error) {
	if _, err := d.pods.Get(podID); err != nil {
		return nil, err
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp4", fmt.Sprintf("127.0.0.1:%d", port))
}

// streamingServer serves the handlers over fakes with a real streaming server.
func streamingServer(t *testing.T) (runtimeapi.RuntimeServiceClient, *fakeRuntime) {
	t.Helper()
	rt := newFakeRuntime()
	pods := fakeSandboxes{"pod1": testPod()}
	srv := NewServer(Options{Containers: rt, PodLookup: pods, ImageResolver: testImages(), PortDialer: hostDialer{pods}})
	ss, err := srv.StartStreaming("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ss.Stop(); err != nil {
			t.Error(err)
		}
		if err := <-ss.Err(); err != nil {
			t.Errorf("streaming server: %v", err)
		}
	})
	rc, _ := dialServer(t, srv)
	return rc, rt
}

// runningContainer creates and starts a fake container.
func runningContainer(t *testing.T, rc runtimeapi.RuntimeServiceClient, name string, start bool) string {
	t.Helper()
	ctx := context.Background()
	resp, err := rc.CreateContainer(ctx, createReq("pod1", name))
	if err != nil {
		t.Fatal(err)
	}
	if start {
		if _, err := rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
			t.Fatal(err)
		}
	}
	return resp.ContainerId
}

// spdyDial upgrades a connection to the streaming URL with the given protocol.
func spdyDial(t *testing.T, url, protocol string) httpstream.Connection {
	t.Helper()
	rt, err := spdy.NewRoundTripper(nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(httpstream.HeaderProtocolVersion, protocol)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		t.Fatalf("upgrade %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func newStream(t *testing.T, conn httpstream.Connection, kv ...string) httpstream.Stream {
	t.Helper()
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	s, err := conn.CreateStream(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStreamingValidation(t *testing.T) {
	rc, _ := streamingServer(t)
	ctx := context.Background()
	running := runningContainer(t, rc, "r", true)
	created := runningContainer(t, rc, "c", false)
	_, err := rc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: running, Stdout: true})
	wantCode(t, "exec without cmd", err, codes.InvalidArgument, "cmd")
	_, err = rc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: "nope", Cmd: []string{"ls"}, Stdout: true})
	wantCode(t, "exec in unknown container", err, codes.NotFound, "nope")
	_, err = rc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: created, Cmd: []string{"ls"}, Stdout: true})
	wantCode(t, "exec in created container", err, codes.FailedPrecondition, created)
	_, err = rc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: running, Cmd: []string{"ls"}})
	wantCode(t, "exec without streams", err, codes.InvalidArgument, "")
	_, err = rc.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: "nope", Stdout: true})
	wantCode(t, "attach to unknown container", err, codes.NotFound, "nope")
	_, err = rc.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: created, Stdout: true})
	wantCode(t, "attach to created container", err, codes.FailedPrecondition, created)
	for _, p := range []int32{0, -1, 65536} {
		_, err = rc.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "pod1", Port: []int32{p}})
		wantCode(t, fmt.Sprintf("port forward to port %d", p), err, codes.InvalidArgument, "port")
	}
	_, err = rc.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "nopod", Port: []int32{80}})
	wantCode(t, "port forward to unknown pod", err, codes.NotFound, "nopod")
	for _, r := range []*runtimeapi.ExecRequest{{ContainerId: running, Cmd: []string{"ls"}, Stdout: true}} {
		resp, err := rc.Exec(ctx, r)
		if err != nil || !strings.HasPrefix(resp.Url, "http://127.0.0.1:") {
			t.Fatalf("exec URL %v %v", resp, err)
		}
	}
	_, err = rc.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: running})
	wantCode(t, "checkpoint", err, codes.Unimplemented, "CRIU")
	_, err = rc.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: "nope"})
	wantCode(t, "checkpoint of unknown container", err, codes.NotFound, "nope")
}

func TestStreamingNoServer(t *testing.T) {
	rc, _ := containerServer(t)
	id := runningContainer(t, rc, "r", true)
	_, err := rc.Exec(context.Background(), &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"ls"}, Stdout: true})
	wantCode(t, "exec without streaming server", err, codes.Unimplemented, "streaming")
}

// TestStreamingExecExitCode runs an exec session over SPDY (protocol v4, as kubectl and
// crictl speak it): the output arrives and a non-zero exit code reaches the client.
func TestStreamingExecExitCode(t *testing.T) {
	rc, rt := streamingServer(t)
	id := runningContainer(t, rc, "r", true)
	rt.execOut, rt.execCode = "hello\n", 3
	resp, err := rc.Exec(context.Background(), &runtimeapi.ExecRequest{ContainerId: id[:8], Cmd: []string{"sh", "-c", "exit 3"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	conn := spdyDial(t, resp.Url, "v4.channel.k8s.io")
	errS := newStream(t, conn, "streamType", "error")
	outS := newStream(t, conn, "streamType", "stdout")
	out, _ := io.ReadAll(outS)
	status, _ := io.ReadAll(errS)
	if string(out) != "hello\n" {
		t.Fatalf("stdout %q", out)
	}
	if s := string(status); !strings.Contains(s, `"reason":"NonZeroExitCode"`) || !strings.Contains(s, `"message":"3"`) {
		t.Fatalf("status %s", s)
	}
	if got := strings.Join(rt.execArgs, " "); got != "sh -c exit 3" {
		t.Fatalf("exec args %q", got)
	}
}

// TestStreamingPortForward100MB carries 100 MB through the streaming server's port forward
// to an echo server and compares checksums.
func TestStreamingPortForward100MB(t *testing.T) {
	rc, _ := streamingServer(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	resp, err := rc.PortForward(context.Background(), &runtimeapi.PortForwardRequest{PodSandboxId: "pod1"})
	if err != nil {
		t.Fatal(err)
	}
	conn := spdyDial(t, resp.Url, "portforward.k8s.io")
	errS := newStream(t, conn, "streamType", "error", "port", port, "requestID", "1")
	data := newStream(t, conn, "streamType", "data", "port", port, "requestID", "1")
	const size = 100 << 20
	sent, got := sha256.New(), sha256.New()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(data, sent), io.LimitReader(rand.NewChaCha8([32]byte{1}), size))
		done <- err
		data.Close() // half-close: the server half-closes the pod connection
	}()
	n, err := io.Copy(got, data)
	if err != nil || n != size {
		t.Fatalf("received %d bytes: %v", n, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(sent.Sum(nil)) != string(got.Sum(nil)) {
		t.Fatal("checksum mismatch")
	}
	if msg, _ := io.ReadAll(errS); len(msg) > 0 {
		t.Fatalf("port forward error stream: %s", msg)
	}
}

func TestUpdateContainerResources(t *testing.T) {
	rc, _ := containerServer(t)
	ctx := context.Background()
	id := runningContainer(t, rc, "r", true)
	lx := &runtimeapi.LinuxContainerResources{CpuShares: 256, MemoryLimitInBytes: 64 << 20}
	if _, err := rc.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: lx}); err != nil {
		t.Fatal(err)
	}
	st, err := rc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Status.GetResources().GetLinux(); r.GetCpuShares() != 256 || r.GetMemoryLimitInBytes() != 64<<20 {
		t.Fatalf("status resources %v", r)
	}
	_, err = rc.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{CpuShares: -1}})
	wantCode(t, "negative cpu shares", err, codes.InvalidArgument, "cpu_shares")
	_, err = rc.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: "nope", Linux: lx})
	wantCode(t, "unknown container", err, codes.NotFound, "nope")
	_, err = rc.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id})
	wantCode(t, "no linux resources", err, codes.InvalidArgument, "linux")
}

// selfSigned returns a TLS config with a fresh self-signed certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestStreamingTLS(t *testing.T) {
	rt := newFakeRuntime()
	srv := NewServer(Options{Containers: rt, PodLookup: fakeSandboxes{"pod1": testPod()}, ImageResolver: testImages()})
	ss, err := srv.StartStreaming("127.0.0.1:0", selfSigned(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Stop()
	rc, _ := dialServer(t, srv)
	id := runningContainer(t, rc, "r", true)
	resp, err := rc.Exec(context.Background(), &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"ls"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://" + ss.Addr().String() + "/exec/"; !strings.HasPrefix(resp.Url, want) {
		t.Fatalf("URL %q, want prefix %q", resp.Url, want)
	}
	c, err := tls.Dial("tcp", ss.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	c.Close()
}

// blockingRuntime's Attach waits for its context and reports when it ends.
type blockingRuntime struct {
	*fakeRuntime
	gone chan struct{}
}

func (b blockingRuntime) Attach(ctx context.Context, id string, o runtime.AttachOptions) error {
	<-ctx.Done()
	close(b.gone)
	return nil
}

// TestStreamingClientGone checks that a session ends when its client's connection goes
// away, and not when the client merely half-closes a stream.
func TestStreamingClientGone(t *testing.T) {
	rt := blockingRuntime{newFakeRuntime(), make(chan struct{})}
	srv := NewServer(Options{Containers: rt, PodLookup: fakeSandboxes{"pod1": testPod()}, ImageResolver: testImages()})
	ss, err := srv.StartStreaming("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Stop()
	rc, _ := dialServer(t, srv)
	id := runningContainer(t, rc, "r", true)
	resp, err := rc.Attach(context.Background(), &runtimeapi.AttachRequest{ContainerId: id, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	conn := spdyDial(t, resp.Url, "v4.channel.k8s.io")
	newStream(t, conn, "streamType", "error")
	out := newStream(t, conn, "streamType", "stdout")
	out.Close() // half-close: the client still reads
	select {
	case <-rt.gone:
		t.Fatal("a half-closed stream ended the session")
	case <-time.After(300 * time.Millisecond):
	}
	conn.Close()
	select {
	case <-rt.gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end when the client went away")
	}
}
