package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// streamBatch is the number of containers per StreamContainers message: small enough to
// stay far below gRPC's message size limit with large label sets.
const streamBatch = 256

// StreamContainers sends the containers matching the filter in batches of at least one
// item, each container exactly once, then ends the stream. No containers: no message.
func (s *Server) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	rt, err := s.containers()
	if err != nil {
		return err
	}
	all := s.filteredContainers(stream.Context(), rt, req.GetFilter())
	for len(all) > 0 {
		n := min(len(all), streamBatch)
		if err := stream.Send(&runtimeapi.StreamContainersResponse{Containers: all[:n]}); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}
