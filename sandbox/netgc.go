package sandbox

import "context"

// CollectNetworks runs gc, the network's garbage collection, with the id of every pod the
// manager knows (pods being created included), while no pod sets its network up: a pod whose
// ADD is running cannot be taken for a leftover, neither by gc's DEL of attachments that
// belong to no pod nor by the plugins' own GC (which frees every lease not listed). Pods
// wait for it only to attach (the daemon serves meanwhile), so callers bound ctx.
func (m *Manager) CollectNetworks(ctx context.Context, gc func(ctx context.Context, validIDs []string) error) error {
	m.netMu.Lock()
	defer m.netMu.Unlock()
	m.mu.Lock()
	ids := make([]string, 0, len(m.pods))
	for id := range m.pods {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	return gc(ctx, ids)
}
