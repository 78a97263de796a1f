package e2e

import (
	"os"
	"strings"
	"testing"
)

// The error lines of a passing run (testdata: every error line and the RemoveContainer notes of
// a real kubelet v1.34.2 log on crishim) are all allowed, each by its own entry; a runtime
// error, or a NotFound for a container the kubelet never removed, is not.
func TestKubeletErrorsAllowlist(t *testing.T) {
	data, err := os.ReadFile("testdata/kubelet-errors.log")
	if err != nil {
		t.Fatal(err)
	}
	if bad := KubeletErrors(string(data), kubeletAllowedErrors); len(bad) > 0 {
		t.Fatalf("allowed lines reported:\n%s", strings.Join(bad, "\n"))
	}
	for i, a := range kubeletAllowedErrors {
		if !a.Pattern.MatchString(string(data)) {
			t.Errorf("allowed entry %d (%s) matches no line of the sample: a typo?", i, a.Why)
		}
	}
	for _, line := range []string{
		`E1203 18:49:08.123456   24480 kuberuntime_manager.go:1449] "Unhandled Error" err="container server start failed in pod web: CreateContainerError: monitor: start init: cannot set hugetlb limit"`,
		`E1203 18:49:26.861017   24480 log.go:32] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \"0123abcd\": not found" containerID="0123abcd"`,
		`E1203 18:49:09.777897   24480 pod_workers.go:1324] "Error syncing pod, skipping" err="failed to \"StartContainer\" for \"server\" with CrashLoopBackOff: \"back-off 10s\""`,
	} {
		if bad := KubeletErrors(string(data)+line+"\n", kubeletAllowedErrors); len(bad) != 1 || bad[0] != line {
			t.Errorf("not reported: %s (got %q)", line, bad)
		}
	}
}
