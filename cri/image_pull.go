package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PullImage pulls the image for the host platform and returns its ID as image_ref.
func (s *Server) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	if s.opts.Images == nil {
		return nil, errNoImages
	}
	ref, err := imageRef(req.GetImage())
	if err != nil {
		return nil, err
	}
	img, err := s.opts.Images.Pull(ctx, ref, criAuth(req.GetAuth()))
	if err != nil {
		return nil, err
	}
	s.logger(ctx).Info("image pulled", "image", ref, "id", img.ID)
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}
