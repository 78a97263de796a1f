package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Endpoint is one CRI runtime under test.
type Endpoint struct {
	// Name labels the runtime in the report ("containerd", "crishim").
	Name string
	// Address is the unix socket path of the CRI server.
	Address string
	// DaemonPID is the runtime daemon's pid, for memory figures; 0 = unknown.
	DaemonPID int
	// PodProcs are substrings that all appear in the command line of the runtime's per-pod
	// processes (containerd's shims, crishim's monitors); empty = not measured. Their
	// descendants and the daemon's children count too, except the workload (SelectPodProcs).
	PodProcs []string

	RT runtimeapi.RuntimeServiceClient
	IS runtimeapi.ImageServiceClient

	// fixturePullErr is the error of pulling the fixture images, if any.
	fixturePullErr error

	conn *grpc.ClientConn
	mu   sync.Mutex
	pods map[string]bool // pods created by this run and not removed yet
}

// ParseEndpoint parses "name=unix:///path" (or "name=/path").
func ParseEndpoint(s string) (*Endpoint, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" || addr == "" {
		return nil, fmt.Errorf("endpoint %q: want name=unix:///path/to/socket", s)
	}
	addr = strings.TrimPrefix(addr, "unix://")
	if !strings.HasPrefix(addr, "/") {
		return nil, fmt.Errorf("endpoint %q: the socket path must be absolute", s)
	}
	return &Endpoint{Name: name, Address: addr, pods: map[string]bool{}}, nil
}

// Dial connects the gRPC clients (lazily: errors show up on the first call).
func (e *Endpoint) Dial() error {
	conn, err := grpc.NewClient("unix://"+e.Address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", e.Name, err)
	}
	e.conn, e.RT, e.IS = conn, runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
	return nil
}

// Close closes the connection.
func (e *Endpoint) Close() error {
	if e.conn == nil {
		return nil
	}
	return e.conn.Close()
}

// Info asks the runtime for its name and version.
func (e *Endpoint) Info(ctx context.Context) EndpointInfo {
	info := EndpointInfo{Name: e.Name, Address: e.Address}
	if v, err := e.RT.Version(ctx, &runtimeapi.VersionRequest{}); err == nil {
		info.Runtime, info.Version = v.RuntimeName, v.RuntimeVersion
	}
	return info
}

func (e *Endpoint) trackPod(id string, live bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if live {
		e.pods[id] = true
	} else {
		delete(e.pods, id)
	}
}

// TrackedPods returns the pods this run created on the endpoint and has not removed.
func (e *Endpoint) TrackedPods() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.pods))
	for id := range e.pods {
		ids = append(ids, id)
	}
	return ids
}

// IsUnimplemented reports whether err (possibly wrapped) is a gRPC Unimplemented status.
func IsUnimplemented(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Code() == codes.Unimplemented
	}
	return false
}

// rpcErr names the RPC that failed.
func rpcErr(rpc string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", rpc, err)
}
