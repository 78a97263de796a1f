package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
)

// Monitor operations (one JSON request and one JSON response per connection).
const (
	opPing     = "ping"
	opCreate   = "create"
	opStart    = "start"
	opKill     = "kill"
	opWait     = "wait"
	opState    = "state"
	opDelete   = "delete"
	opReopen   = "reopen"
	opShutdown = "shutdown"
	opAttach   = "attach" // then frames both ways: see attach_proto.go
)

// monRequest is a request to a pod monitor.
type monRequest struct {
	Op      string `json:"op"`
	ID      string `json:"id,omitempty"`
	Bundle  string `json:"bundle,omitempty"` // container dir: config.json in, exit.json out
	LogPath string `json:"log_path,omitempty"`
	// LogDir is the pod log directory LogPath must stay under ("" = LogPath's directory).
	LogDir  string `json:"log_dir,omitempty"`
	LineMax int    `json:"line_max,omitempty"`
	Stdin   bool   `json:"stdin,omitempty"`
	// StdinOnce (attach): close the container's stdin when this attacher's stdin ends.
	StdinOnce bool          `json:"stdin_once,omitempty"`
	Signal    int           `json:"signal,omitempty"`
	Timeout   time.Duration `json:"timeout,omitempty"` // wait: 0 = until exit
}

// monResponse is a monitor's answer.
type monResponse struct {
	Err    string      `json:"err,omitempty"`
	Kind   string      `json:"kind,omitempty"` // errdefs kind of Err
	Pid    int         `json:"pid,omitempty"`
	Status string      `json:"status,omitempty"` // libcontainer status: created, running, stopped
	Exit   *exitRecord `json:"exit,omitempty"`
	// StartedAt is when the monitor started the container (start, state).
	StartedAt time.Time `json:"started_at,omitzero"`
}

// exitRecord is what the monitor records when a container's init exits (exit.json).
type exitRecord struct {
	Code       int32     `json:"code"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at"`
	Reason     string    `json:"reason"`
	Message    string    `json:"message,omitempty"`
}

var errKinds = map[string]error{
	"not_found":           errdefs.ErrNotFound,
	"already_exists":      errdefs.ErrAlreadyExists,
	"invalid_argument":    errdefs.ErrInvalidArgument,
	"failed_precondition": errdefs.ErrFailedPrecondition,
	"deadline_exceeded":   errdefs.ErrDeadlineExceeded,
}

// errResponse encodes err with its errdefs kind.
func errResponse(err error) monResponse {
	r := monResponse{Err: err.Error()}
	for k, kind := range errKinds {
		if errors.Is(err, kind) {
			r.Kind = k
		}
	}
	return r
}

// respErr turns a response's error back into an error of the same kind.
func (r monResponse) respErr() error {
	if r.Err == "" {
		return nil
	}
	return remoteError{msg: r.Err, kind: errKinds[r.Kind]}
}

// remoteError is an error reported by a monitor. Its message already names its kind (the
// monitor's error wrapped it), so the kind is kept for errors.Is without repeating it.
type remoteError struct {
	msg  string
	kind error // nil when the monitor's error had no known kind
}

func (e remoteError) Error() string { return "monitor: " + e.msg }
func (e remoteError) Unwrap() error { return e.kind }

// callMonitor sends one request to the monitor listening on sock. ctx cancels the call.
func callMonitor(ctx context.Context, sock string, req monRequest) (monResponse, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return monResponse{}, fmt.Errorf("connect to pod monitor: %w: %w", errdefs.ErrUnavailable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return monResponse{}, fmt.Errorf("send %s to pod monitor: %w: %w", req.Op, errdefs.ErrUnavailable, err)
	}
	var resp monResponse
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return monResponse{}, fmt.Errorf("%s: %w: %w", req.Op, errdefs.ErrDeadlineExceeded, ctx.Err())
		}
		return monResponse{}, fmt.Errorf("read %s answer of pod monitor: %w: %w", req.Op, errdefs.ErrUnavailable, err)
	}
	return resp, resp.respErr()
}
