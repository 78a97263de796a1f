package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/images"
)

// ImageFsInfo reports the bytes and inodes used by images (blobs and layer snapshots) and by
// the containers' writable layers. Both live on the image store's filesystem, so both report
// its mountpoint and kubelet does not treat them as split filesystems.
func (s *Server) ImageFsInfo(ctx context.Context, _ *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	if s.opts.Images == nil {
		return nil, errNoImages
	}
	img, err := s.opts.Images.FsInfo()
	if err != nil {
		return nil, err
	}
	ctr, err := s.opts.Images.ContainerFsInfo()
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems:     []*runtimeapi.FilesystemUsage{fsUsage(img, now)},
		ContainerFilesystems: []*runtimeapi.FilesystemUsage{fsUsage(ctr, now)},
	}, nil
}

func fsUsage(u images.FsUsage, now int64) *runtimeapi.FilesystemUsage {
	return &runtimeapi.FilesystemUsage{
		Timestamp:  now,
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: u.Mountpoint},
		UsedBytes:  &runtimeapi.UInt64Value{Value: u.UsedBytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: u.InodesUsed},
	}
}
