package main

import "testing"

func TestNewProgressModes(t *testing.T) {
	if p, err := newProgress("none", false, true); err != nil || p != nil {
		t.Errorf("none: got %v, %v; want no reporter", p, err)
	}
	for _, m := range []string{"auto", "lines", "bar"} {
		if p, err := newProgress(m, false, false); err != nil || p == nil {
			t.Errorf("%s: got %v, %v; want a reporter", m, p, err)
		}
	}
	if _, err := newProgress("fancy", false, true); err == nil {
		t.Error("unknown mode accepted")
	}
}
