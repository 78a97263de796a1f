package cri

import (
	"context"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"google.golang.org/grpc"
)

// streamChunk bounds the pods sent per StreamPodSandboxes message.
const streamChunk = 256

func (s *Server) listPods(f *runtimeapi.PodSandboxFilter) []*runtimeapi.PodSandbox {
	var out []*runtimeapi.PodSandbox
	for _, sb := range s.opts.Sandboxes.List() {
		if podMatches(&sb, f) {
			out = append(out, criPodSandbox(&sb))
		}
	}
	return out
}

// ListPodSandbox lists pods matching the filter (id or id prefix, state, label selector).
func (s *Server) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	if s.opts.Sandboxes == nil {
		return nil, errNoSandboxes
	}
	return &runtimeapi.ListPodSandboxResponse{Items: s.listPods(req.GetFilter())}, nil
}

// StreamPodSandboxes sends the pods matching the filter in chunks (one empty message when
// there are none).
func (s *Server) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	if s.opts.Sandboxes == nil {
		return errNoSandboxes
	}
	pods := s.listPods(req.GetFilter())
	for {
		n := min(len(pods), streamChunk)
		if err := stream.Send(&runtimeapi.StreamPodSandboxesResponse{PodSandboxes: pods[:n]}); err != nil {
			return err
		}
		pods = pods[n:]
		if len(pods) == 0 {
			return nil
		}
	}
}
