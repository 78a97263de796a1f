package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	runtimeName       = "crishim"
	runtimeAPIVersion = "v1"
	// kubeAPIVersion is the version of the kubelet runtime API that the Version RPC reports
	// in its `version` field, as other runtimes do.
	kubeAPIVersion = "0.1.0"
)

// Version returns the runtime name, its version and the CRI API version.
func (s *Server) Version(ctx context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           kubeAPIVersion,
		RuntimeName:       runtimeName,
		RuntimeVersion:    s.opts.Version,
		RuntimeApiVersion: runtimeAPIVersion,
	}, nil
}
