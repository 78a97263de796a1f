package apply

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
)

// FuzzApply feeds arbitrary bytes to Apply as a layer: it must never panic and never write
// outside the root. The seed corpus runs with a plain `go test`. Fuzz with
//
//	go test -run XXX -fuzz FuzzApply -fuzzminimizetime 0s ./images/apply/
//
// (minimizing "interesting" inputs is very slow here and looks like a hang).
func FuzzApply(f *testing.F) {
	f.Add(mktar(f, ent{name: "a/b", body: "x"}, ent{name: "a/.wh.b", body: ""}))
	f.Add(mktar(f, ent{name: "l", typ: tar.TypeSymlink, link: "../outside"}, ent{name: "l/x", body: "x"}))
	f.Add(mktar(f, ent{name: "l", typ: tar.TypeSymlink, link: "/"}, ent{name: "h", typ: tar.TypeLink, link: "l/../../x"}))
	f.Add(mktar(f, ent{name: "d/", typ: tar.TypeDir}, ent{name: "d/.wh..wh..opq"}, ent{name: "d", typ: tar.TypeSymlink, link: ".."}, ent{name: "d/y", body: "y"}))
	f.Add(mktar(f, ent{name: "../../etc/x", body: "x"}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, outside := setup(t)
		_, _ = Apply(context.Background(), root, bytes.NewReader(data), Options{NoOwnership: true})
		checkOutside(t, outside)
	})
}
