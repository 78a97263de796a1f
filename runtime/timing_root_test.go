package runtime

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"
)

// TestCreateStartTiming prints how long create and start take (a figure, not an assertion;
// run with -v). CRISHIM_TEST_MONITOR selects a dedicated monitor binary.
func TestCreateStartTiming(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	if bin := os.Getenv("CRISHIM_TEST_MONITOR"); bin != "" {
		m.exe = bin
	}
	var first, create, start, stop, remove []time.Duration
	for i := 0; i < 10; i++ {
		pod := newTestPod(t)
		for j := 0; j < 2; j++ {
			t0 := time.Now()
			st, err := m.Create(ctx, pod.spec("c"+randHex(2), "sleep", "100"))
			if err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if err := m.Start(ctx, st.ID); err != nil {
				t.Fatal(err)
			}
			t2 := time.Now()
			if err := m.Stop(ctx, st.ID, 0); err != nil {
				t.Fatal(err)
			}
			t3 := time.Now()
			if err := m.Remove(ctx, st.ID); err != nil {
				t.Fatal(err)
			}
			t4 := time.Now()
			if j == 0 {
				first = append(first, t1.Sub(t0))
			} else {
				create = append(create, t1.Sub(t0))
			}
			start, stop, remove = append(start, t2.Sub(t1)), append(stop, t3.Sub(t2)), append(remove, t4.Sub(t3))
		}
		if err := m.RemovePodContainers(ctx, pod.id); err != nil {
			t.Fatal(err)
		}
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	t.Logf("median: first create in a pod (spawns the monitor) %v, create %v, start %v, stop(kill) %v, remove %v",
		med(first), med(create), med(start), med(stop), med(remove))
}

// TestExecSyncTiming prints the median ExecSync latency (a figure; run with -v).
func TestExecSyncTiming(t *testing.T) {
	needRoot(t)
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	a := startSleeper(t, m, newTestPod(t), nil)
	var d []time.Duration
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		if _, _, _, err := m.ExecSync(context.Background(), a.ID, []string{"true"}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	t.Logf("ExecSync(true): median %v, max %v", d[len(d)/2], d[len(d)-1])
}
