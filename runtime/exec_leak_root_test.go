package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// pidNSMembers counts the host processes in the pid namespace of pid (pid itself included).
func pidNSMembers(t *testing.T, pid int) int {
	t.Helper()
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		t.Fatalf("pid namespace of %d: %v", pid, err)
	}
	links, _ := filepath.Glob("/proc/[0-9]*/ns/pid")
	n := 0
	for _, l := range links {
		if v, err := os.Readlink(l); err == nil && v == ns {
			n++
		}
	}
	return n
}

// zombieChildren counts the test process's children that are zombies.
func zombieChildren() int {
	n := 0
	for _, c := range procChildren(os.Getpid()) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) S ..." — the state follows the last ')'.
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == ')' && i+2 < len(b) && b[i+2] == 'Z' {
				n++
				break
			}
		}
	}
	return n
}

// TestExecSyncLeaks runs 1000 ExecSync calls, 10% of which time out, and checks that no
// process (in the container or ours), zombie, fd or goroutine is left behind.
func TestExecSyncLeaks(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("1000 execs: not in -short")
	}
	ctx := context.Background()
	m := newTestManager(t, newTestRootfs(t), t.TempDir(), t.TempDir())
	pod := newTestPod(t)
	st := startSleeper(t, m, pod, nil)
	_, _, _, _ = m.ExecSync(ctx, st.ID, []string{"true"}, time.Second) // warm up
	fds, kids, gor, inCtr := countFDs(), countChildren(), goruntime.NumGoroutine(), pidNSMembers(t, st.Pid)

	const total, workers = 1000, 4
	var timeouts, oks int
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan int)
	errc := make(chan error, total)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if i%10 == 0 {
					_, _, _, err := m.ExecSync(ctx, st.ID, []string{"sleep", "10"}, 200*time.Millisecond)
					if !errors.Is(err, errdefs.ErrDeadlineExceeded) {
						errc <- err
						continue
					}
					mu.Lock()
					timeouts++
					mu.Unlock()
					continue
				}
				out, _, code, err := m.ExecSync(ctx, st.ID, []string{"echo", strconv.Itoa(i)}, 10*time.Second)
				if err != nil || code != 0 || string(out) != strconv.Itoa(i)+"\n" {
					errc <- errors.Join(err, errors.New("exec "+strconv.Itoa(i)+": output "+string(out)))
					continue
				}
				mu.Lock()
				oks++
				mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("exec: %v", err)
	}
	t.Logf("%d execs (%d ok, %d timed out) in %v", total, oks, timeouts, time.Since(t0))
	if timeouts != total/10 || oks != total-total/10 {
		t.Fatalf("ok %d, timed out %d", oks, timeouts)
	}
	var f, k, g, c, z int
	eventually(t, "execs leave nothing behind", func() bool { // finished goroutines exit in their own time
		f, k, g, c, z = countFDs(), countChildren(), goruntime.NumGoroutine(), pidNSMembers(t, st.Pid), zombieChildren()
		return f <= fds && k <= kids && g <= gor && c <= inCtr && z == 0
	})
	t.Logf("fds %d→%d children %d→%d goroutines %d→%d container processes %d→%d zombies %d", fds, f, kids, k, gor, g, inCtr, c, z)
	if f > fds || k > kids || g > gor || c > inCtr || z > 0 {
		t.Fatalf("leak: fds %d→%d children %d→%d goroutines %d→%d container processes %d→%d zombies %d",
			fds, f, kids, k, gor, g, inCtr, c, z)
	}
}
