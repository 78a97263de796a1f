package apply

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
)

// BenchmarkApplySmallFiles applies a layer of 10,000 small files in 100 directories.
func BenchmarkApplySmallFiles(b *testing.B) {
	var ents []ent
	for d := 0; d < 100; d++ {
		ents = append(ents, ent{name: fmt.Sprintf("d%d/", d), typ: tar.TypeDir, mode: 0o755})
		for f := 0; f < 100; f++ {
			ents = append(ents, ent{name: fmt.Sprintf("d%d/f%d", d, f), body: "small file content"})
		}
	}
	data := mktar(b, ents...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		root, _ := setup(b)
		if _, err := Apply(context.Background(), root, bytes.NewReader(data), Options{NoOwnership: os.Geteuid() != 0}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ents)*b.N)/b.Elapsed().Seconds(), "entries/s")
}
