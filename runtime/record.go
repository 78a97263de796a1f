package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

// Record phases: a record is written "creating" before any side effect of Create, "created"
// once the init process waits for start, "removing" before Remove undoes anything.
const (
	phaseCreating = "creating"
	phaseCreated  = "created"
	phaseRemoving = "removing"
)

// record is the persisted state of a container (<rootDir>/containers/<id>/record.json).
type record struct {
	Spec      ContainerSpec `json:"spec"`
	Phase     string        `json:"phase"`
	CreatedAt time.Time     `json:"created_at"`
	StartedAt time.Time     `json:"started_at,omitzero"`
	User      User          `json:"user"`
	Env       []string      `json:"env,omitempty"`
	Cwd       string        `json:"cwd,omitempty"`
	Pid       int           `json:"pid,omitempty"`
	Exit      *exitRecord   `json:"exit,omitempty"`
}

// container is the in-memory entry of a container: op serialises the operations on it
// (create, start, stop, remove), mu guards rec and is held only briefly.
type container struct {
	op  sync.Mutex
	mu  sync.Mutex
	id  string
	dir string
	rec record
}

func (c *container) save() error {
	return store.WriteJSON(filepath.Join(c.dir, "record.json"), &c.rec)
}

// refreshExit picks up the exit recorded by the monitor (exit.json) for a started container.
func (c *container) refreshExit() {
	if c.rec.Exit != nil || c.rec.Phase != phaseCreated {
		return
	}
	var ex exitRecord
	if err := store.ReadJSON(filepath.Join(c.dir, "exit.json"), &ex); err != nil {
		return
	}
	c.rec.Exit = &ex
	if err := c.save(); err != nil {
		// The exit file stays authoritative; the record is only a cache of it.
		_ = err
	}
}

func (c *container) state() State {
	switch {
	case c.rec.Phase == phaseCreating:
		return StateUnknown
	case c.rec.Exit != nil:
		return StateExited
	case !c.rec.StartedAt.IsZero():
		return StateRunning
	case c.rec.Phase == phaseCreated:
		return StateCreated
	}
	return StateUnknown
}

// status returns a copy of the container's status (caller holds c.mu).
func (c *container) status() Status {
	s := c.rec.Spec
	st := Status{
		ID: c.id, PodID: s.PodID, Name: s.Name, Attempt: s.Attempt,
		Labels: s.Labels, Annotations: s.Annotations, Image: s.Image,
		State: c.state(), CreatedAt: c.rec.CreatedAt, StartedAt: c.rec.StartedAt,
		LogPath: s.LogPath, User: c.rec.User, Resources: s.Resources,
		Mounts: slices.Clone(s.Mounts), TTY: s.TTY, Stdin: s.Stdin, StdinOnce: s.StdinOnce,
	}
	st.User.SupplementalGroups = slices.Clone(st.User.SupplementalGroups)
	if e := c.rec.Exit; e != nil {
		st.FinishedAt, st.ExitCode, st.Reason, st.Message = e.FinishedAt, e.Code, e.Reason, e.Message
		if st.StartedAt.IsZero() {
			// Killed before start: CRI wants started <= finished.
			st.StartedAt = time.Time{}
		}
	} else if st.State == StateRunning {
		st.Pid = c.rec.Pid
	}
	return st
}

// loadRecords reads every container record under dir.
func loadRecords(dir string) (map[string]*container, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]*container{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*container{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := &container{id: e.Name(), dir: filepath.Join(dir, e.Name())}
		store.CleanTemps(c.dir)
		if err := store.ReadJSON(filepath.Join(c.dir, "record.json"), &c.rec); err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				// Crashed before the first record: nothing was done yet.
				c.rec.Phase = phaseCreating
			} else {
				return nil, fmt.Errorf("container %q: %w", e.Name(), err)
			}
		}
		out[c.id] = c
	}
	return out, nil
}
