//go:build tools

// Package tools pins the versions of the command-line tools crishim's tests use (critest and
// crictl from sigs.k8s.io/cri-tools). It is a separate module so the main module's
// dependencies are not affected.
package tools

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
	_ "sigs.k8s.io/cri-tools/cmd/critest"
)
