package cri

import (
	"context"
	"encoding/json"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/runtime"
)

// ContainerStatus reports a container's state, times, exit code and reason, image, mounts,
// resources and effective user. Verbose adds an "info" JSON (pid, pod id, stdio flags).
// Unknown ids are NotFound.
func (s *Server) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	_, st, err := s.findContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: containerStatusToCRI(st, s.imageRef(ctx, st.Image, nil))}
	if req.GetVerbose() {
		b, err := json.Marshal(verboseInfo(st))
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

// containerInfo is the verbose "info" of ContainerStatus (what crictl inspect shows).
type containerInfo struct {
	SandboxID string       `json:"sandboxID"`
	Pid       int          `json:"pid"`
	State     string       `json:"state"`
	Image     string       `json:"image"`
	ImageID   string       `json:"imageID"`
	LogPath   string       `json:"logPath,omitempty"`
	TTY       bool         `json:"tty"`
	Stdin     bool         `json:"stdin"`
	StdinOnce bool         `json:"stdinOnce"`
	User      runtime.User `json:"user"`
}

func verboseInfo(st runtime.Status) containerInfo {
	return containerInfo{
		SandboxID: st.PodID, Pid: st.Pid, State: string(st.State),
		Image: st.Image.Ref, ImageID: st.Image.ID, LogPath: st.LogPath,
		TTY: st.TTY, Stdin: st.Stdin, StdinOnce: st.StdinOnce, User: st.User,
	}
}
