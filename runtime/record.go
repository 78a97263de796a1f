package runtime

import (
	"errors"
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
	c.setExit(&ex)
	// The exit file stays authoritative; the record is only a cache of it.
	_ = c.save()
}

// currentState returns the container's state after picking up a recorded exit.
func (c *container) currentState() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshExit()
	return c.state()
}

// setExit stores an exit (caller holds c.mu and saves).
func (c *container) setExit(ex *exitRecord) {
	c.rec.Exit = ex
	if c.rec.StartedAt.IsZero() {
		c.rec.StartedAt = ex.StartedAt
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
		RequestHash: s.RequestHash,
	}
	st.User.SupplementalGroups = slices.Clone(st.User.SupplementalGroups)
	if e := c.rec.Exit; e != nil {
		st.FinishedAt, st.ExitCode, st.Reason, st.Message = e.FinishedAt, e.Code, e.Reason, e.Message
	} else if st.State == StateRunning {
		st.Pid = c.rec.Pid
	}
	return st
}

// loadRecords reads every container record under dir. An unreadable record does not stop
// the daemon: it is reported in bad and its directory left alone for inspection.
func loadRecords(dir string) (out map[string]*container, bad map[string]error, err error) {
	entries, err := os.ReadDir(dir)
	out, bad = map[string]*container{}, map[string]error{}
	if errors.Is(err, os.ErrNotExist) {
		return out, bad, nil
	}
	if err != nil {
		return nil, nil, err
	}
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
				bad[e.Name()] = err
				continue
			}
		}
		out[c.id] = c
	}
	return out, bad, nil
}
