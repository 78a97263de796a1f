package sandbox

import (
	"reflect"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"

	"github.com/crishim/crishim/internal/cglimits"
)

// TestPodLimits checks the pod cgroup's sizing: the containers' sum (resources) plus the
// overhead, the way the kubelet sizes a pod cgroup.
func TestPodLimits(t *testing.T) {
	over := &Resources{CPUShares: 102, CPUPeriod: 100000, CPUQuota: 10000, MemoryLimitBytes: 64 << 20}
	for _, tc := range []struct {
		name          string
		overhead, res *Resources
		want          *Resources
	}{
		{"nothing", nil, nil, nil},
		{"resources only", nil, &Resources{CPUShares: 512, MemoryLimitBytes: 1 << 30, CpusetCpus: "0"},
			&Resources{CPUShares: 512, MemoryLimitBytes: 1 << 30, CpusetCpus: "0"}},
		{"overhead added to every limit", over,
			&Resources{CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000, MemoryLimitBytes: 1 << 30, CpusetMems: "0",
				Unified: map[string]string{"pids.max": "10"}},
			&Resources{CPUShares: 614, CPUPeriod: 100000, CPUQuota: 60000, MemoryLimitBytes: 1<<30 + 64<<20, CpusetMems: "0",
				Unified: map[string]string{"pids.max": "10"}}},
		// A pod with a container without limits has no limit: the overhead alone must not
		// become its limit. Its CPU request still gets the overhead's.
		{"no limits in resources", over, &Resources{CPUShares: 2},
			&Resources{CPUShares: 104}},
		{"unlimited quota stays unlimited", over, &Resources{CPUShares: 512, CPUQuota: -1, CPUPeriod: 100000},
			&Resources{CPUShares: 614, CPUQuota: -1, CPUPeriod: 100000}},
		// Without the containers' sum there is nothing to add the overhead to.
		{"overhead without resources", over, nil, nil},
		{"overhead quota on another period", &Resources{CPUQuota: 5000, CPUPeriod: 50000},
			&Resources{CPUQuota: 20000, CPUPeriod: 200000}, &Resources{CPUQuota: 40000, CPUPeriod: 200000}},
		{"default periods", &Resources{CPUQuota: 5000}, &Resources{CPUQuota: 20000},
			&Resources{CPUQuota: 25000}},
		{"sums stay in bounds", &Resources{CPUShares: cglimits.MaxCPUShares, MemoryLimitBytes: cglimits.MaxMemory},
			&Resources{CPUShares: cglimits.MaxCPUShares, MemoryLimitBytes: cglimits.MaxMemory},
			&Resources{CPUShares: cglimits.MaxCPUShares, MemoryLimitBytes: cglimits.MaxMemory}},
	} {
		got := podLimits(tc.overhead, tc.res)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: podLimits = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// The inputs are not changed (they are the recorded values).
	res := &Resources{CPUShares: 512, MemoryLimitBytes: 1 << 30}
	podLimits(over, res)
	if res.CPUShares != 512 || res.MemoryLimitBytes != 1<<30 {
		t.Fatalf("podLimits changed its input: %+v", res)
	}
}

// TestPodLimitsCgroup2 checks what a cgroup v2 pod cgroup gets from the sum (the files the
// cgroup2 manager writes), on any host.
func TestPodLimitsCgroup2(t *testing.T) {
	res := &Resources{CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000, MemoryLimitBytes: 256 << 20}
	over := &Resources{CPUShares: 102, CPUPeriod: 100000, CPUQuota: 10000, MemoryLimitBytes: 64 << 20}
	v2 := cgroup2.ToResources(specResources(podLimits(over, res)))
	alone := cgroup2.ToResources(specResources(res))
	if v2.CPU == nil || v2.CPU.Weight == nil || *v2.CPU.Weight <= *alone.CPU.Weight || string(v2.CPU.Max) != "60000 100000" {
		t.Errorf("cpu %+v, want max 60000 100000 and a weight above %d (resources alone)", v2.CPU, *alone.CPU.Weight)
	}
	if v2.Memory == nil || v2.Memory.Max == nil || *v2.Memory.Max != 320<<20 {
		t.Errorf("memory %+v", v2.Memory)
	}
}
