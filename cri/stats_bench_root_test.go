package cri

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestListContainerStatsFigures starts 100 running containers and prints the latency of
// ListContainerStats over them (median, p95, p99 of 200 calls). It reports figures and
// asserts nothing about time; it runs only with CRISHIM_STATS_BENCH=1 (it takes a while).
func TestListContainerStatsFigures(t *testing.T) {
	if os.Getenv("CRISHIM_STATS_BENCH") != "1" {
		t.Skip("set CRISHIM_STATS_BENCH=1 to measure ListContainerStats over 100 containers")
	}
	e := newRootEnv(t)
	rc, ctx := e.rc, context.Background()
	const n = 100
	var ids []string
	for i := range n {
		r, err := rc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: e.pod.ID, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: fmt.Sprintf("c%d", i)},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"}, Command: []string{"sleep", "1000"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ContainerId)
	}
	t.Cleanup(func() {
		for _, id := range ids {
			_, _ = rc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
		}
	})
	var lat []time.Duration
	for range 200 {
		start := time.Now()
		l, err := rc.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
		lat = append(lat, time.Since(start))
		if err != nil || len(l.Stats) != n {
			t.Fatalf("ListContainerStats: %d stats, %v", len(l.GetStats()), err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	t.Logf("ListContainerStats over %d running containers, %d calls: median %v p95 %v p99 %v max %v",
		n, len(lat), pct(.5), pct(.95), pct(.99), lat[len(lat)-1])
	fmt.Printf("figure: ListContainerStats %d containers p50=%v p95=%v p99=%v\n", n, pct(.5), pct(.95), pct(.99))
}
