package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the modification time of every file and the creation time of every image, so that
// layers and configs (and therefore digests) do not depend on when or where they are built.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// entry is one file of a layer.
type entry struct {
	name     string // path inside the image, without leading slash
	typ      byte   // tar.TypeDir, tar.TypeReg, tar.TypeLink or tar.TypeSymlink
	mode     int64  // permission bits, including setuid/setgid/sticky
	uid, gid int
	linkname string // target of a hard link or symlink
	data     []byte // content of a regular file
}

func dir(name string, mode int64) entry {
	return entry{name: name, typ: tar.TypeDir, mode: mode}
}

func file(name string, mode int64, data []byte) entry {
	return entry{name: name, typ: tar.TypeReg, mode: mode, data: data}
}

func hostFile(name string, mode int64, path string) (entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return entry{}, fmt.Errorf("image file %s: %w", name, err)
	}
	return file(name, mode, data), nil
}

// hardLink links name to target. The header carries the target's mode: some runtimes apply a
// hard-link header's mode to the shared inode, and mode 0 would make the target unusable.
func hardLink(name, target string, mode int64) entry {
	return entry{name: name, typ: tar.TypeLink, mode: mode, linkname: target}
}

// newLayer returns a gzip-compressed layer holding entries in a fixed order: every non-link entry
// sorted by name (a directory sorts before its content), then the hard links sorted by name (a
// hard link must come after its target).
func newLayer(entries []entry) (v1.Layer, error) {
	sorted := append([]entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool {
		li, lj := sorted[i].typ == tar.TypeLink, sorted[j].typ == tar.TypeLink
		if li != lj {
			return lj
		}
		return sorted[i].name < sorted[j].name
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range sorted {
		if err := writeEntry(tw, e); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

func writeEntry(tw *tar.Writer, e entry) error {
	name := strings.TrimPrefix(e.name, "/")
	if e.typ == tar.TypeDir {
		name += "/"
	}
	hdr := &tar.Header{
		Typeflag: e.typ,
		Name:     name,
		Linkname: e.linkname,
		Mode:     e.mode,
		Uid:      e.uid,
		Gid:      e.gid,
		ModTime:  epoch,
	}
	if e.typ == tar.TypeReg {
		hdr.Size = int64(len(e.data))
	}
	if hdr.Uid == 0 {
		hdr.Uname, hdr.Gname = "root", "root"
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer entry %s: %w", e.name, err)
	}
	if e.typ == tar.TypeReg {
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("layer entry %s: %w", e.name, err)
		}
	}
	return nil
}
