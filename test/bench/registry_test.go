package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestColdLayerDeterministicAndDistinct(t *testing.T) {
	digest := func(seed uint64) (v1.Hash, int64) {
		l, err := ColdLayer(seed, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := l.Digest()
		n, _ := l.Size()
		return d, n
	}
	a1, size := digest(1)
	a2, _ := digest(1)
	b, _ := digest(2)
	if a1 != a2 {
		t.Fatalf("same seed, different digests: %s %s", a1, a2)
	}
	if a1 == b {
		t.Fatalf("different seeds, same digest %s", a1)
	}
	// 0.5 MiB random + 1 MiB hex text: gzip keeps the random half and about half the text.
	if size < 900<<10 || size > 1200<<10 {
		t.Fatalf("1 MiB layer compresses to %d bytes, want about 1 MiB", size)
	}
}

func TestRegistryServesAndCounts(t *testing.T) {
	reg, err := StartRegistry("127.0.0.1:0", "bench.local")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if got := reg.Ref("a/b:1"); got != "bench.local/a/b:1" {
		t.Fatalf("Ref = %q", got)
	}
	var layers []v1.Layer
	for i := range 3 {
		l, err := ColdLayer(uint64(i), 1)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := BuildImage(layers, []string{"/bin/sleep"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := reg.Push(ctx, "cold/x:a", img); err != nil {
		t.Fatal(err)
	}
	reg.ResetCounters()
	ref, _ := name.ParseReference(reg.Addr+"/cold/x:a", name.Insecure)
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	gotLayers, _ := got.Layers()
	var want int64
	for _, l := range gotLayers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := l.Size()
		want += n
		buf := make([]byte, 32<<10)
		for {
			if _, err := rc.Read(buf); err != nil {
				break
			}
		}
		rc.Close()
	}
	served, gets := reg.Served()
	if gets != 3 || served < want {
		t.Fatalf("served %d bytes in %d blob GETs, want ≥ %d in 3", served, gets, want)
	}
	wantDigest, _ := img.Digest()
	if d, _ := got.Digest(); d != wantDigest {
		t.Fatalf("pulled digest %s, pushed %s", d, wantDigest)
	}
}

func TestHelperLayerNeedsBinary(t *testing.T) {
	if _, err := HelperLayer(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("HelperLayer accepted a missing binary")
	}
	bin := filepath.Join(t.TempDir(), "benchhelper")
	if err := os.WriteFile(bin, []byte("#!"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := HelperLayer(bin); err != nil {
		t.Fatal(err)
	}
}
