package cni

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"github.com/crishim/crishim/internal/errdefs"
)

// confExts are the config file extensions looked at, as libcni and the references do.
var confExts = map[string]bool{".conflist": true, ".conf": true, ".json": true}

// network is the loaded pod network.
type network struct {
	list *libcni.NetworkConfigList
	file string // the config file it came from
}

// confFile is one candidate config file.
type confFile struct {
	path string
	info os.FileInfo
}

// scanDir lists the candidate config files in lexical order and a fingerprint that changes
// when any of them is added, removed, resized or touched. A missing dir has no files.
func scanDir(dir string) ([]confFile, string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read cni config dir: %w", err)
	}
	var files []confFile
	var fp strings.Builder
	for _, e := range entries { // os.ReadDir sorts by name
		if !confExts[filepath.Ext(e.Name())] {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path) // follows symlinks, as config managers use them
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		files = append(files, confFile{path: path, info: info})
		fmt.Fprintf(&fp, "%s/%d/%d;", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return files, fp.String(), nil
}

// loadFile parses one config file; a single-plugin .conf/.json is turned into a list.
func loadFile(path string) (*libcni.NetworkConfigList, error) {
	if filepath.Ext(path) == ".conflist" {
		return libcni.NetworkConfFromFile(path)
	}
	conf, err := libcni.ConfFromFile(path)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromConf(conf)
}

// loadFirst returns the first valid network in files; every skipped file is named in the
// error when none is valid.
func (m *Manager) loadFirst(files []confFile) (*network, error) {
	var skipped []string
	for _, f := range files {
		list, err := loadFile(f.path)
		if err == nil && len(list.Plugins) == 0 {
			err = errors.New("no plugins")
		}
		if err != nil {
			m.log.Warn("skipping invalid cni config", "file", f.path, "err", err)
			skipped = append(skipped, fmt.Sprintf("%s: %v", filepath.Base(f.path), err))
			continue
		}
		return &network{list: list, file: f.path}, nil
	}
	msg := fmt.Sprintf("no network config found in %s", m.cfg.ConfDir)
	if len(skipped) > 0 {
		msg = fmt.Sprintf("no valid network config in %s (%s)", m.cfg.ConfDir, strings.Join(skipped, "; "))
	}
	return nil, fmt.Errorf("cni: %s: %w", msg, errdefs.ErrFailedPrecondition)
}

// current returns the pod network, reloading the config dir when it changed since the last
// call and writing the default network into an empty dir.
func (m *Manager) current(ctx context.Context) (*network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.currentLocked(ctx)
}

// currentLocked is current for callers holding m.mu.
func (m *Manager) currentLocked(ctx context.Context) (*network, error) {
	files, fp, err := scanDir(m.cfg.ConfDir)
	if err != nil {
		return nil, fmt.Errorf("cni: %w: %w", err, errdefs.ErrFailedPrecondition)
	}
	if len(files) == 0 && m.cfg.WriteDefault {
		if err := m.writeDefault(ctx, m.subnets()); err != nil {
			return nil, fmt.Errorf("cni: %w: %w", err, errdefs.ErrFailedPrecondition)
		}
		if files, fp, err = scanDir(m.cfg.ConfDir); err != nil {
			return nil, fmt.Errorf("cni: %w: %w", err, errdefs.ErrFailedPrecondition)
		}
	}
	if m.loaded && fp == m.fingerprint {
		return m.net, m.netErr
	}
	m.net, m.netErr = m.loadFirst(files)
	m.fingerprint, m.loaded = fp, true
	if m.net != nil {
		m.log.Info("cni network loaded", "network", m.net.list.Name, "file", m.net.file,
			"cniVersion", m.net.list.CNIVersion, "plugins", pluginTypes(m.net.list))
	}
	return m.net, m.netErr
}

// pluginTypes lists the plugin types of a network, for logs and errors.
func pluginTypes(list *libcni.NetworkConfigList) []string {
	var types []string
	for _, p := range list.Plugins {
		types = append(types, p.Network.Type)
	}
	return types
}
