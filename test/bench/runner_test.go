package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeCRI answers Version and the List RPCs; everything else is Unimplemented.
type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer
}

func (fakeCRI) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "fake", RuntimeVersion: "0"}, nil
}

func (fakeCRI) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{}, nil
}

func startFake(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "cri.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, fakeCRI{})
	runtimeapi.RegisterImageServiceServer(srv, fakeCRI{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return sock
}

// TestUnimplementedSkipsCleanly runs every scenario against a runtime that implements
// nothing: each must end "skipped" with the RPC named, and the run must finish.
func TestUnimplementedSkipsCleanly(t *testing.T) {
	e, err := ParseEndpoint("fake=unix://" + startFake(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Dial(); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	o := DefaultOptions()
	o.LogDir, o.RPCTimeout, o.PullLayerMB = t.TempDir(), 10*time.Second, 1
	reg, err := StartRegistry("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	r := &Runner{Opts: o, Endpoints: []*Endpoint{e}, Registry: reg, RunID: NewRunID(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), SleeperImage: "x", PauseImage: "y"}
	ctx := context.Background()
	r.Report = NewReport([]EndpointInfo{e.Info(ctx)}, "")
	if r.Report.Endpoints[0].Runtime != "fake" {
		t.Fatalf("Info = %+v", r.Report.Endpoints[0])
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	r.Report.Finalize()
	if len(r.Report.Outcomes) != len(Scenarios) {
		t.Fatalf("%d outcomes for %d scenarios: %+v", len(r.Report.Outcomes), len(Scenarios), r.Report.Outcomes)
	}
	wantRPC := map[string]string{"pods": "RunPodSandbox", "sandbox": "RunPodSandbox", "hostnet": "RunPodSandbox", "pull": "PullImage", "density": "RunPodSandbox",
		"exec": "RunPodSandbox", "stats": "RunPodSandbox", "events": "RunPodSandbox"}
	for _, o := range r.Report.Outcomes {
		if o.Status != StatusSkipped || !strings.HasPrefix(o.Note, wantRPC[o.Scenario]+":") {
			t.Errorf("%s: status %s note %q, want skipped on %s", o.Scenario, o.Status, o.Note, wantRPC[o.Scenario])
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, bad := range []string{"", "x", "=unix:///a", "x=relative.sock", "x=unix://rel"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		}
	}
	e, err := ParseEndpoint("crishim=unix:///run/x.sock")
	if err != nil || e.Name != "crishim" || e.Address != "/run/x.sock" {
		t.Fatalf("ParseEndpoint = %+v, %v", e, err)
	}
}

func TestMatchCmdline(t *testing.T) {
	cmd := "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id abc -address /tmp/w/containerd.sock"
	if !MatchCmdline(cmd, []string{"containerd-shim-runc-v2", "/tmp/w/containerd.sock"}) {
		t.Error("shim not matched")
	}
	if MatchCmdline(cmd, []string{"containerd-shim-runc-v2", "/other.sock"}) {
		t.Error("shim of another containerd matched")
	}
	if MatchCmdline(cmd, nil) {
		t.Error("an empty pattern matched")
	}
}
