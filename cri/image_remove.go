package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage removes the image with every tag it has; removing an absent image succeeds.
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	if s.opts.Images == nil {
		return nil, errNoImages
	}
	ref, err := imageRef(req.GetImage())
	if err != nil {
		return nil, err
	}
	if err := s.opts.Images.Remove(ref); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
