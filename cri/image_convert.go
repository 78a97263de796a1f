package cri

import (
	"fmt"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/images"
	"github.com/crishim/crishim/internal/errdefs"
)

var errNoImages = fmt.Errorf("image service: %w", errdefs.ErrNotImplemented)

// imageRef returns the image reference of a spec, which must not be empty.
func imageRef(spec *runtimeapi.ImageSpec) (string, error) {
	if spec.GetImage() == "" {
		return "", fmt.Errorf("image.image: must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	return spec.GetImage(), nil
}

// criImage converts an image. The image's USER becomes uid when numeric, else username (the
// group part is not reported by the CRI).
func criImage(img images.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        max(img.Size, 1),
		Spec:        &runtimeapi.ImageSpec{Image: img.ID},
		Pinned:      img.Pinned,
	}
	user, _, _ := strings.Cut(img.Config.User, ":")
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
		out.Uid = &runtimeapi.Int64Value{Value: uid}
	} else {
		out.Username = user
	}
	return out
}

// criAuth converts the pull credentials.
func criAuth(a *runtimeapi.AuthConfig) images.Auth {
	return images.Auth{Username: a.GetUsername(), Password: a.GetPassword(), Auth: a.GetAuth(),
		IdentityToken: a.GetIdentityToken(), RegistryToken: a.GetRegistryToken()}
}

// listImages returns every image, or the one a filter names.
func (s *Server) listImages(f *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	if ref := f.GetImage().GetImage(); ref != "" {
		img, err := s.opts.Images.Resolve(ref)
		if err != nil {
			if errorsIsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		return []*runtimeapi.Image{criImage(img)}, nil
	}
	var out []*runtimeapi.Image
	for _, img := range s.opts.Images.List() {
		out = append(out, criImage(img))
	}
	return out, nil
}
