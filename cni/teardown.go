package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/crishim/crishim/internal/errdefs"
	"github.com/crishim/crishim/internal/store"
)

// teardownTimeout bounds the DEL run to undo a failed setup.
const teardownTimeout = 2 * time.Minute

// delRetryDelays are the pauses between DEL attempts (so 1+len attempts in all).
var delRetryDelays = []time.Duration{200 * time.Millisecond, time.Second}

// idRE is libcni's container ID rule; it also keeps IDs safe as file names.
var idRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// record is what DEL needs, written before ADD: the exact network config and arguments used.
type record struct {
	ID             string          `json:"id"`
	Pod            string          `json:"pod"`
	Network        string          `json:"network"`
	Config         json.RawMessage `json:"config"`
	NetNS          string          `json:"netns"`
	IfName         string          `json:"ifName"`
	Args           [][2]string     `json:"args,omitempty"`
	CapabilityArgs map[string]any  `json:"capabilityArgs,omitempty"`
}

func (m *Manager) recordPath(id string) string { return filepath.Join(m.recordDir, id+".json") }

func (m *Manager) writeRecord(r record) error {
	if !idRE.MatchString(r.ID) {
		return fmt.Errorf("invalid pod id %q: %w", r.ID, errdefs.ErrInvalidArgument)
	}
	if err := store.WriteJSON(m.recordPath(r.ID), r); err != nil {
		return fmt.Errorf("record network attachment: %w", err)
	}
	return nil
}

// Teardown detaches the pod (CNI DEL with the config and arguments used at ADD). It is
// idempotent, works when the netns is gone, and retries DEL a few times; the error names the
// plugin and the pod. Only a successful DEL forgets the attachment.
func (m *Manager) Teardown(ctx context.Context, pod PodNetwork) error {
	if !idRE.MatchString(pod.ID) {
		return fmt.Errorf("cni: teardown pod %s: invalid id: %w", podName(pod), errdefs.ErrInvalidArgument)
	}
	var rec record
	err := store.ReadJSON(m.recordPath(pod.ID), &rec)
	if err == nil {
		return m.teardownRecord(ctx, rec, pod.NetNS)
	}
	if !errors.Is(err, errdefs.ErrNotFound) {
		m.log.Warn("unreadable network attachment record, using the libcni cache", "pod", podName(pod), "err", err)
	}
	// No record of ours: the libcni cache may still know (or nothing is attached).
	atts, err := m.cni.GetCachedAttachments(pod.ID)
	if err != nil {
		return fmt.Errorf("cni: teardown pod %s: read cache: %w", podName(pod), err)
	}
	var errs []error
	for _, a := range atts {
		errs = append(errs, m.teardownRecord(ctx, recordOf(a, podName(pod)), pod.NetNS))
	}
	return errors.Join(errs...)
}

// recordOf turns a libcni cache entry into a record.
func recordOf(a *libcni.NetworkAttachment, pod string) record {
	return record{ID: a.ContainerID, Pod: pod, Network: a.Network, Config: a.Config, NetNS: a.NetNS,
		IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
}

// teardownRecord runs DEL for one attachment, with retries, then forgets it. netns overrides
// the recorded path; a path that is not a live netns is passed as empty (CNI spec).
func (m *Manager) teardownRecord(ctx context.Context, rec record, netns string) error {
	list, err := libcni.NetworkConfFromBytes(rec.Config)
	if err != nil {
		return fmt.Errorf("cni: teardown pod %s: recorded config of network %q: %w: %w",
			rec.Pod, rec.Network, err, errdefs.ErrFailedPrecondition)
	}
	if err := m.missingPlugin(list); err != nil {
		// No retry can help; the record stays for the GC once the plugin is back.
		return fmt.Errorf("cni: teardown pod %s on network %q: %w", rec.Pod, rec.Network, err)
	}
	if netns == "" {
		netns = rec.NetNS
	}
	if !isNetNS(netns) {
		netns = ""
	}
	rt := &libcni.RuntimeConf{ContainerID: rec.ID, NetNS: netns, IfName: rec.IfName,
		Args: delArgs(rec.Args), CapabilityArgs: rec.CapabilityArgs}
	for attempt := 0; ; attempt++ {
		err = m.cni.DelNetworkList(ctx, list, rt)
		if err == nil || attempt == len(delRetryDelays) || ctx.Err() != nil {
			break
		}
		m.log.Warn("CNI DEL failed, retrying", "pod", rec.Pod, "network", rec.Network, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(delRetryDelays[attempt]):
		}
	}
	if err != nil {
		return fmt.Errorf("cni: teardown pod %s on network %q: %w: %w", rec.Pod, rec.Network, err, kindOf(ctx, err))
	}
	if err := os.Remove(m.recordPath(rec.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cni: teardown pod %s: forget attachment: %w", rec.Pod, err)
	}
	m.log.Debug("pod network torn down", "pod", rec.Pod, "network", rec.Network)
	return nil
}

// delArgs leaves out the arguments a plugin's environment cannot hold (a NUL byte: records
// of pods named with one by an older daemon), which would make every DEL fail; plugins need
// only the container id, netns and interface to undo an ADD.
func delArgs(args [][2]string) [][2]string {
	out := make([][2]string, 0, len(args))
	for _, a := range args {
		if !strings.ContainsRune(a[0]+a[1], 0) {
			out = append(out, a)
		}
	}
	return out
}

// GC detaches every recorded or cached attachment whose pod is not in validIDs (run at daemon
// start), then asks plugins for CNI GC when the network's version supports it.
func (m *Manager) GC(ctx context.Context, validIDs []string) error {
	valid := map[string]bool{}
	for _, id := range validIDs {
		valid[id] = true
	}
	done := map[string]bool{}
	var errs []error
	entries, err := os.ReadDir(m.recordDir)
	if err != nil {
		return fmt.Errorf("cni: gc: %w", err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || valid[id] || strings.HasPrefix(id, ".") {
			continue
		}
		var rec record
		if err := store.ReadJSON(filepath.Join(m.recordDir, e.Name()), &rec); err != nil {
			errs = append(errs, fmt.Errorf("cni: gc: %w", err))
			continue
		}
		done[id] = true
		m.log.Info("removing network of a pod that no longer exists", "pod", rec.Pod, "id", id)
		errs = append(errs, m.teardownRecord(ctx, rec, ""))
	}
	atts, err := m.cni.GetCachedAttachments("")
	if err != nil {
		errs = append(errs, fmt.Errorf("cni: gc: read cache: %w", err))
	}
	for _, a := range atts {
		if valid[a.ContainerID] || done[a.ContainerID] {
			continue
		}
		m.log.Info("removing cached network attachment of a pod that no longer exists", "id", a.ContainerID)
		errs = append(errs, m.teardownRecord(ctx, recordOf(a, a.ContainerID), ""))
	}
	errs = append(errs, m.pluginGC(ctx, validIDs))
	return errors.Join(errs...)
}

// pluginGC runs CNI GC on the current network when its spec version has it (1.1.0+).
func (m *Manager) pluginGC(ctx context.Context, validIDs []string) error {
	n, err := m.current(ctx)
	if err != nil {
		return nil // no network: nothing to GC
	}
	if ok, _ := version.GreaterThanOrEqualTo(n.list.CNIVersion, "1.1.0"); !ok {
		return nil
	}
	args := &libcni.GCArgs{}
	for _, id := range validIDs {
		args.ValidAttachments = append(args.ValidAttachments, cnitypes.GCAttachment{ContainerID: id, IfName: IfName})
	}
	if err := m.cni.GCNetworkList(ctx, n.list, args); err != nil {
		return fmt.Errorf("cni: gc network %q: %w", n.list.Name, err)
	}
	return nil
}

// Check runs CNI CHECK for an attached pod with the config it was attached with.
func (m *Manager) Check(ctx context.Context, pod PodNetwork) error {
	var rec record
	if !idRE.MatchString(pod.ID) {
		return fmt.Errorf("cni: check pod %s: invalid id: %w", podName(pod), errdefs.ErrInvalidArgument)
	}
	if err := store.ReadJSON(m.recordPath(pod.ID), &rec); err != nil {
		return fmt.Errorf("cni: check pod %s: not attached: %w", podName(pod), err)
	}
	list, err := libcni.NetworkConfFromBytes(rec.Config)
	if err != nil {
		return fmt.Errorf("cni: check pod %s: %w: %w", podName(pod), err, errdefs.ErrFailedPrecondition)
	}
	rt := &libcni.RuntimeConf{ContainerID: rec.ID, NetNS: rec.NetNS, IfName: rec.IfName,
		Args: rec.Args, CapabilityArgs: rec.CapabilityArgs}
	if err := m.cni.CheckNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("cni: check pod %s on network %q: %w: %w", podName(pod), rec.Network, err, errdefs.ErrFailedPrecondition)
	}
	return nil
}
