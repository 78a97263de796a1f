//go:build !race

package cri

// oomLimit is the memory limit of the OOM test container (see race_on_test.go).
const oomLimit = 20 << 20
