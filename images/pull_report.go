package images

import (
	"time"
)

// PullReport describes one finished pull (shared pulls are reported once).
type PullReport struct {
	Ref      string
	Bytes    int64 // downloaded from the registry (layers already present cost nothing)
	Duration time.Duration
	Err      error // nil on success
}

// OnPull sets fn to be called after every pull, successful or not (for metrics). fn must
// not block. Call it before the first pull.
func (s *Service) OnPull(fn func(PullReport)) { s.pullHook.Store(&fn) }

func (s *Service) reportPull(prog *progress, err error) {
	if fn := s.pullHook.Load(); fn != nil {
		(*fn)(PullReport{Ref: prog.ref, Bytes: prog.bytes.Load(), Duration: time.Since(prog.start), Err: err})
	}
}
