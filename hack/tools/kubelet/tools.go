//go:build tools

// Package tools pins the kubelet the daemon-level kubelet test runs (k8s.io/kubernetes
// cmd/kubelet). It is a separate module: kubernetes' dependency graph must not touch crishim's.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubelet"
)
