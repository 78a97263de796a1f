package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

func TestToStatusMapsKinds(t *testing.T) {
	cases := []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("container %q: %w", "x", errdefs.ErrNotFound), codes.NotFound},
		{fmt.Errorf("name: %w", errdefs.ErrInvalidArgument), codes.InvalidArgument},
		{fmt.Errorf("pull: %w", errdefs.ErrUnauthenticated), codes.Unauthenticated},
		{fmt.Errorf("exec: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{status.Error(codes.Aborted, "as is"), codes.Aborted},
		{errors.New("unclassified"), codes.Internal},
	}
	for _, c := range cases {
		if got := status.Code(toStatus(c.err)); got != c.want {
			t.Errorf("toStatus(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}

func TestUnaryInterceptorRecoversPanics(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ic := UnaryInterceptor(log, nil)
	info := &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/Boom"}
	_, err := ic(context.Background(), nil, info, func(ctx context.Context, req any) (any, error) {
		var m map[string]int
		m["x"] = 1 // nil map write panics
		return nil, nil
	})
	if status.Code(err) != codes.Internal {
		t.Fatalf("panic gave %v, want Internal", err)
	}
	_, err = ic(context.Background(), nil, info, func(ctx context.Context, req any) (any, error) {
		if Logger(ctx, nil) == nil {
			t.Error("no request logger in context")
		}
		return nil, fmt.Errorf("pod %q: %w", "p", errdefs.ErrNotFound)
	})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("got %v, want NotFound", err)
	}
}

// dialServer serves s over an in-memory connection and returns a runtime client.
func dialServer(t *testing.T, s *Server) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(UnaryInterceptor(log, nil)), grpc.ChainStreamInterceptor(StreamInterceptor(log, nil)))
	s.Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
}

func TestVersionStatusRuntimeConfig(t *testing.T) {
	rc, _ := dialServer(t, NewServer(Options{Version: "1.2.3"}))
	ctx := context.Background()
	v, err := rc.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "crishim" || v.RuntimeApiVersion != "v1" || v.RuntimeVersion != "1.2.3" {
		t.Errorf("Version = %+v", v)
	}
	st, err := rc.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string]*runtimeapi.RuntimeCondition{}
	for _, c := range st.Status.Conditions {
		conds[c.Type] = c
	}
	if !conds[runtimeapi.RuntimeReady].GetStatus() {
		t.Errorf("RuntimeReady false: %+v", conds[runtimeapi.RuntimeReady])
	}
	if n := conds[runtimeapi.NetworkReady]; n.GetStatus() || n.GetReason() == "" {
		t.Errorf("NetworkReady without a network should be false with a reason: %+v", n)
	}
	if !st.GetFeatures().GetSupplementalGroupsPolicy() {
		t.Error("Status does not advertise SupplementalGroupsPolicy")
	}
	cfg, err := rc.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil || cfg.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("RuntimeConfig = %v, %v", cfg, err)
	}
}

type failingNetwork struct{}

func (failingNetwork) Status(context.Context) error {
	return errors.New("no CNI config in /etc/cni/net.d")
}

func TestStatusNetworkReason(t *testing.T) {
	rc, _ := dialServer(t, NewServer(Options{Network: failingNetwork{}}))
	st, err := rc.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Status.Conditions {
		if c.Type == runtimeapi.NetworkReady && (c.Status || c.Message != "no CNI config in /etc/cni/net.d") {
			t.Errorf("NetworkReady = %+v", c)
		}
	}
}

// TestVerboseStatusRedactsSecrets: verbose Status prints the configuration without registry
// passwords, identity tokens or anything else secret, at any depth, in maps and structs.
func TestVerboseStatusRedactsSecrets(t *testing.T) {
	type registry struct {
		Username, Password, IdentityToken string
		Mirrors                           []string
	}
	info := map[string]any{
		"config": map[string]any{
			"images": map[string]any{"registries": map[string]any{
				"registry.test": map[string]any{"username": "alice", "password": "hunter2-secret", "identity_token": "tok-refresh-1"},
				"other.test":    registry{Username: "bob", Password: "pw-in-struct", IdentityToken: "tok-in-struct", Mirrors: []string{"http://127.0.0.1:5000"}},
			}},
			"streaming": map[string]any{"tls_key_secret": "s3cr3t-key", "client_secret": "cs-1", "auth": "Basic dXNlcjpwYXNz", "list": []any{map[string]any{"token": "tok-in-list"}}},
		},
	}
	rc, _ := dialServer(t, NewServer(Options{Info: info}))
	st, err := rc.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	out := st.GetInfo()["config"]
	for _, secret := range []string{"hunter2-secret", "tok-refresh-1", "pw-in-struct", "tok-in-struct", "s3cr3t-key", "cs-1", "dXNlcjpwYXNz", "tok-in-list"} {
		if strings.Contains(out, secret) {
			t.Errorf("verbose Status shows %q: %s", secret, out)
		}
	}
	for _, kept := range []string{"alice", "bob", "http://127.0.0.1:5000", "password", "identity_token"} {
		if !strings.Contains(out, kept) {
			t.Errorf("verbose Status lost %q: %s", kept, out)
		}
	}
}
