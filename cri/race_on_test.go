//go:build race

package cri

// oomLimit is the memory limit of the OOM test container. Under the race detector the
// container's init (this test binary, re-executed) alone is charged more than 20 MiB before
// the limit is applied, so the limit is raised.
const oomLimit = 64 << 20
