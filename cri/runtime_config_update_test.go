package cri

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// fakePodCIDR records the CIDRs it was given and rejects "bad".
type fakePodCIDR struct{ got []string }

func (f *fakePodCIDR) UpdatePodCIDR(_ context.Context, cidr string) error {
	if cidr == "bad" {
		return fmt.Errorf("pod CIDR %q: %w", cidr, errdefs.ErrInvalidArgument)
	}
	f.got = append(f.got, cidr)
	return nil
}

func updateReq(cidr string) *runtimeapi.UpdateRuntimeConfigRequest {
	return &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{
		NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}}}
}

func TestUpdateRuntimeConfig(t *testing.T) {
	f := &fakePodCIDR{}
	rc, _ := dialServer(t, NewServer(Options{PodCIDR: f}))
	ctx := context.Background()
	if _, err := rc.UpdateRuntimeConfig(ctx, updateReq("10.1.0.0/24,fd00::/64")); err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 1 || f.got[0] != "10.1.0.0/24,fd00::/64" {
		t.Fatalf("pod CIDR passed on as %q", f.got)
	}
	_, err := rc.UpdateRuntimeConfig(ctx, updateReq("bad"))
	wantCode(t, "bad pod CIDR", err, codes.InvalidArgument, `"bad"`)
	// A request without a network config is the empty CIDR: nothing to do.
	if _, err := rc.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{}); err != nil {
		t.Fatal(err)
	}

	// Without a pod network, an empty update is fine and a CIDR cannot be applied.
	rc, _ = dialServer(t, NewServer(Options{}))
	if _, err := rc.UpdateRuntimeConfig(ctx, updateReq("")); err != nil {
		t.Fatal(err)
	}
	_, err = rc.UpdateRuntimeConfig(ctx, updateReq("10.1.0.0/24"))
	wantCode(t, "no pod network", err, codes.Unimplemented, "pod network")
}
