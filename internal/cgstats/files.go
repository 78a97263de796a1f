package cgstats

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// openFiles keeps the cgroup files of each sampled cgroup open between samples: reading
// one again is a single pread at offset 0 (kernfs regenerates the content on every read
// from offset 0), instead of open + read + close and the per-controller existence checks.
// ListContainerStats over 100 containers spent most of its time in those syscalls.
type openFiles struct {
	mu sync.Mutex
	m  map[string]map[string]*os.File // cgroup path → file path → open file
}

// readFile returns the content of the file name of the cgroup at cg (path relative to the
// hierarchy root; dir(cg) is its directory) into buf. Without a cache (o == nil) it is
// os.ReadFile; with one, the path is only built to open the file the first time.
func (o *openFiles) readFile(dir func(string) string, cg, name string, buf []byte) ([]byte, error) {
	if o == nil {
		return os.ReadFile(filepath.Join(dir(cg), name))
	}
	f, err := o.open(dir, cg, name)
	if err != nil {
		return nil, err
	}
	b, err := preadAll(f, buf)
	if err != nil {
		o.drop(cg, name, f)
		if errors.Is(err, syscall.ENODEV) {
			err = &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist} // cgroup removed
		}
	}
	return b, err
}

func (o *openFiles) open(dir func(string) string, cg, name string) (*os.File, error) {
	o.mu.Lock()
	f := o.m[cg][name]
	o.mu.Unlock()
	if f != nil {
		return f, nil
	}
	f, err := os.Open(filepath.Join(dir(cg), name))
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]map[string]*os.File{}
	}
	if o.m[cg] == nil {
		o.m[cg] = map[string]*os.File{}
	}
	if old := o.m[cg][name]; old != nil { // opened concurrently: keep one
		f.Close()
		return old, nil
	}
	o.m[cg][name] = f
	return f, nil
}

// drop closes and forgets one file (its read failed) unless it was replaced meanwhile.
func (o *openFiles) drop(cg, name string, f *os.File) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m[cg][name] == f {
		delete(o.m[cg], name)
		f.Close()
	}
}

// forget closes the files of the cgroup at cg.
func (o *openFiles) forget(cg string) {
	o.mu.Lock()
	files := o.m[cg]
	delete(o.m, cg)
	o.mu.Unlock()
	for _, f := range files {
		f.Close()
	}
}

// preadAll reads f from offset 0 into buf, growing it when the content does not fit.
func preadAll(f *os.File, buf []byte) ([]byte, error) {
	n := 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf)+512)...)
		}
		m, err := f.ReadAt(buf[n:], int64(n))
		n += m
		if errors.Is(err, io.EOF) || (err == nil && m == 0) {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
}
