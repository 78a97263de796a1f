package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeConfigReference keeps README.md's configuration reference equal to
// `shim config default`. Run with UPDATE_README=1 to rewrite it.
func TestReadmeConfigReference(t *testing.T) {
	const path = "../../README.md"
	const begin, end = "<!-- config:begin -->\n```toml\n", "```\n<!-- config:end -->"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the config:begin/config:end block")
	}
	def, err := MarshalDefault()
	if err != nil {
		t.Fatal(err)
	}
	if s[i+len(begin):j] == string(def) {
		return
	}
	if os.Getenv("UPDATE_README") == "1" {
		s = s[:i+len(begin)] + string(def) + s[j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Error("README.md's configuration reference is out of date: run UPDATE_README=1 go test ./cmd/shim -run TestReadmeConfigReference")
}
