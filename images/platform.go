package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	goruntime "runtime"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// hostPlatform is the platform images are pulled for.
func hostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	switch goruntime.GOARCH {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
	}
	return p
}

// selectManifest picks the manifest of an index that runs on want: same OS and architecture,
// the same variant preferred (an absent variant matches), a descriptor without platform as the
// last resort. Attestation manifests (unknown/unknown) never match.
func selectManifest(idx *v1.IndexManifest, want v1.Platform) (v1.Descriptor, error) {
	best, bestScore := -1, -1
	for i, d := range idx.Manifests {
		score := 0
		if p := d.Platform; p != nil {
			if p.OS != want.OS || p.Architecture != want.Architecture {
				continue
			}
			switch {
			case p.Variant == want.Variant:
				score = 3
			case p.Variant == "" || want.Variant == "":
				score = 2
			default:
				continue
			}
		} else if !d.MediaType.IsImage() {
			continue
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return v1.Descriptor{}, fmt.Errorf("no manifest for platform %s/%s: %w", want.OS, want.Architecture, errdefs.ErrNotFound)
	}
	return idx.Manifests[best], nil
}

// chainIDs computes the chain ID of every layer from the diff IDs (base first):
// chain[0] = diff[0], chain[i] = sha256(chain[i-1] + " " + diff[i]).
func chainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		h := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(h[:])
	}
	return out
}

// imageConfig extracts what container creation needs from an OCI image configuration.
func imageConfig(cf *v1.ConfigFile) ImageConfig {
	c := cf.Config
	ic := ImageConfig{User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir,
		StopSignal: c.StopSignal, Labels: c.Labels, OS: cf.OS, Architecture: cf.Architecture}
	for v := range c.Volumes {
		ic.Volumes = append(ic.Volumes, v)
	}
	for p := range c.ExposedPorts {
		ic.ExposedPorts = append(ic.ExposedPorts, p)
	}
	sort.Strings(ic.Volumes)
	sort.Strings(ic.ExposedPorts)
	return ic
}
