package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListImages lists every image, or the image the filter's reference resolves to.
func (s *Server) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	if s.opts.Images == nil {
		return nil, errNoImages
	}
	imgs, err := s.listImages(req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListImagesResponse{Images: imgs}, nil
}

// StreamImages is ListImages in batches of at most streamBatch images per message.
func (s *Server) StreamImages(req *runtimeapi.StreamImagesRequest, stream runtimeapi.ImageService_StreamImagesServer) error {
	if s.opts.Images == nil {
		return errNoImages
	}
	imgs, err := s.listImages(req.GetFilter())
	if err != nil {
		return err
	}
	for len(imgs) > 0 {
		n := min(len(imgs), streamBatch)
		if err := stream.Send(&runtimeapi.StreamImagesResponse{Images: imgs[:n]}); err != nil {
			return err
		}
		imgs = imgs[n:]
	}
	return nil
}
