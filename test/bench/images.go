package bench

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the mtime of every file in generated layers, so digests are stable run to run.
var epoch = time.Unix(1700000000, 0).UTC()

// helperApplets are the names /bin/benchhelper answers to (symlinks in the image).
var helperApplets = []string{"pause", "sleep", "true", "false", "echo"}

// tarEntry is one file, directory or symlink of a generated layer.
type tarEntry struct {
	name, link string
	mode       int64
	data       []byte
	dir        bool
}

// HelperLayer returns the layer holding /bin/benchhelper (the static binary at helperBin),
// its applet symlinks, and a minimal /etc/passwd and /etc/group.
func HelperLayer(helperBin string) (v1.Layer, error) {
	bin, err := os.ReadFile(helperBin)
	if err != nil {
		return nil, fmt.Errorf("helper binary: %w", err)
	}
	entries := []tarEntry{
		{name: "bin/", dir: true, mode: 0o755},
		{name: "bin/benchhelper", mode: 0o755, data: bin},
	}
	for _, a := range helperApplets {
		entries = append(entries, tarEntry{name: "bin/" + a, link: "benchhelper", mode: 0o777})
	}
	entries = append(entries,
		tarEntry{name: "etc/", dir: true, mode: 0o755},
		tarEntry{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		tarEntry{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		tarEntry{name: "tmp/", dir: true, mode: 0o1777},
	)
	return newMemLayer(func(tw *tar.Writer) error { return writeEntries(tw, entries) }, gzip.DefaultCompression)
}

func writeEntries(tw *tar.Writer, entries []tarEntry) error {
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag = tar.TypeDir
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return nil
}

// BuildImage assembles a linux image of the host architecture from layers with the given
// entrypoint, cmd and user, with OCI media types.
func BuildImage(layers []v1.Layer, entrypoint, cmd []string, user string) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", goruntime.GOARCH, v1.Time{Time: epoch}
	cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User = entrypoint, cmd, user
	cf.Config.Env = []string{"PATH=/bin"}
	return mutate.ConfigFile(img, cf)
}

// ColdLayer returns a layer of about mb MiB compressed, different for every seed: a file of
// mb/2 MiB of random bytes (incompressible) and a file of mb MiB of random hex text (which
// gzip halves), so unpacking costs real decompression work.
func ColdLayer(seed uint64, mb int) (v1.Layer, error) {
	var key [32]byte
	for i := range 4 {
		key[i*8] = byte(seed >> (8 * i))
		key[i*8+1] = byte(i)
	}
	rng := rand.NewChaCha8(key)
	random := make([]byte, mb<<20/2)
	rng.Read(random)
	raw := make([]byte, mb<<20/2)
	rng.Read(raw)
	text := make([]byte, hex.EncodedLen(len(raw)))
	hex.Encode(text, raw)
	dir := fmt.Sprintf("data/%016x/", seed)
	entries := []tarEntry{
		{name: "data/", dir: true, mode: 0o755},
		{name: dir, dir: true, mode: 0o755},
		{name: dir + "random.bin", mode: 0o644, data: random},
		{name: dir + "text.hex", mode: 0o644, data: text},
	}
	return newMemLayer(func(tw *tar.Writer) error { return writeEntries(tw, entries) }, gzip.BestSpeed)
}

// memLayer is a gzip-compressed layer held in memory with precomputed digests.
type memLayer struct {
	compressed     []byte
	digest, diffID v1.Hash
}

// newMemLayer runs fill on a tar writer and gzips the stream at level, hashing both sides.
func newMemLayer(fill func(*tar.Writer) error, level int) (*memLayer, error) {
	var out bytes.Buffer
	zsum, usum := sha256.New(), sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(&out, zsum), level)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(io.MultiWriter(zw, usum))
	if err := fill(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &memLayer{compressed: out.Bytes(), digest: sum(zsum), diffID: sum(usum)}, nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// Digest is the sha256 of the compressed layer.
func (l *memLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the sha256 of the uncompressed tar.
func (l *memLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size is the compressed size.
func (l *memLayer) Size() (int64, error) { return int64(len(l.compressed)), nil }

// Compressed reads the gzip stream.
func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}

// Uncompressed reads the tar stream.
func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(l.compressed))
}

// MediaType is the OCI gzip layer type.
func (l *memLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// v1Layer is a short name for go-containerregistry's layer interface.
type v1Layer = v1.Layer
