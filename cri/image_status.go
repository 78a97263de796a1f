package cri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// ImageStatus reports an image; an absent image is image=nil without error. Verbose adds the
// image record (configuration included) as JSON under info["info"].
func (s *Server) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	if s.opts.Images == nil {
		return nil, errNoImages
	}
	ref, err := imageRef(req.GetImage())
	if err != nil {
		return nil, err
	}
	img, err := s.opts.Images.Resolve(ref)
	if errorsIsNotFound(err) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: criImage(img)}
	if req.GetVerbose() {
		b, err := json.Marshal(img)
		if err != nil {
			return nil, fmt.Errorf("image %s: encode info: %w", img.ID, err)
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

func errorsIsNotFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }
