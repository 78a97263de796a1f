package images

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BenchmarkPull pulls a 5-layer image (5 × 20 MiB of files, half compressible) from a
// loopback registry into an empty store per iteration and reports MiB/s of layer content.
func BenchmarkPull(b *testing.B) {
	tr := newRegistry(b)
	rng := rand.New(rand.NewSource(1))
	var layers []v1.Layer
	for i := 0; i < 5; i++ {
		var ents []tent
		for f := 0; f < 20; f++ {
			buf := make([]byte, 1<<20)
			rng.Read(buf[:len(buf)/2])
			ents = append(ents, tent{name: fmt.Sprintf("l%d/f%d", i, f), body: string(buf)})
		}
		layers = append(layers, mkLayer(b, compression.GZip, ents...))
	}
	tr.push(b, "bench:1", mkImage(b, "amd64", v1.Config{}, layers...))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := newService(b, b.TempDir(), tr)
		if _, err := s.Pull(context.Background(), "registry.test/bench:1", Auth{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "MiB/s")
}
