package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
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
	if err := s.checkImageHandler(req.GetImage().GetRuntimeHandler()); err != nil {
		return nil, err
	}
	img, err := s.opts.Images.Pull(ctx, ref, criAuth(req.GetAuth()))
	if err != nil {
		return nil, err
	}
	s.logger(ctx).Info("image pulled", "image", ref, "id", img.ID)
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}

// checkImageHandler rejects a runtime handler the daemon does not know (images are shared by
// every handler, so a known one changes nothing).
func (s *Server) checkImageHandler(name string) error {
	if name == "" {
		return nil
	}
	for _, h := range s.runtimeHandlers() {
		if h.Name == name {
			return nil
		}
	}
	return fmt.Errorf("image.runtime_handler %q: unknown runtime handler: %w", name, errdefs.ErrInvalidArgument)
}
