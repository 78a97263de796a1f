package images

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/crishim/crishim/internal/errdefs"
)

// Bounds on image metadata, as containerd has: real manifests and indexes are a few KiB, configs
// rarely above a few hundred KiB. A hostile registry or archive must not make the daemon read
// gigabytes into memory; blobs (layers) are bounded by their descriptor's size instead (the
// content store refuses a byte more) and by the disk (ResourceExhausted).
const (
	// maxManifestSize bounds manifests, indexes and an import archive's manifest.json/index.json.
	maxManifestSize = 4 << 20
	// maxConfigSize bounds image configuration blobs.
	maxConfigSize = 8 << 20
)

// manifestLimit is the registry transport's innermost layer: a manifest or index response
// (GET …/manifests/…) larger than maxManifestSize fails as soon as it says so
// (Content-Length) or sends more, instead of being read whole first.
type manifestLimit struct{ next http.RoundTripper }

func (m manifestLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := m.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/manifests/") {
		return resp, err
	}
	tooBig := fmt.Errorf("manifest %s: more than the %d bytes allowed: %w", req.URL.Path, maxManifestSize, errdefs.ErrInvalidArgument)
	if resp.ContentLength > maxManifestSize {
		resp.Body.Close()
		return nil, tooBig
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxManifestSize, err: tooBig}
	return resp, nil
}

// limitedBody fails with err once more than left bytes were read.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, l.err
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
