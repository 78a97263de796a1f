package main

import (
	"reflect"
	"testing"
)

func TestSetKey(t *testing.T) {
	doc := map[string]any{"root_dir": "/var/lib/x", "cni": map[string]any{"conf_dir": "/etc/cni"}}
	for _, s := range []string{`root_dir="/tmp/r"`, `cni.bin_dirs=["/usr/lib/cni"]`, `images.mirrors={a=["http://b"]}`} {
		if err := setKey(doc, s, false); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]any{"root_dir": "/tmp/r",
		"cni": map[string]any{"conf_dir": "/etc/cni", "bin_dirs": []any{"/usr/lib/cni"}}}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("doc = %#v\nwant %#v", doc, want)
	}
	if err := setKey(doc, `images.mirrors={a=["http://b"]}`, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["images"].(map[string]any)["mirrors"]; !ok {
		t.Fatalf("--add did not create the table: %#v", doc)
	}
	for _, bad := range []string{"novalue", "k=not toml"} {
		if err := setKey(doc, bad, true); err == nil {
			t.Errorf("setKey(%q) accepted", bad)
		}
	}
}
