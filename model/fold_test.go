package model

import "testing"

func TestASCIIFoldEq(t *testing.T) {
	for _, c := range []struct {
		s, lower string
		want     bool
	}{
		{"Content-Length", "content-length", true},
		{"CONTENT-LENGTH", "content-length", true},
		{"content-length", "content-length", true},
		{"Content-Lengt", "content-length", false},
		{"Content_Length", "content-length", false},
		{"ſecret", "secret", false}, // not EqualFold: no Unicode folding
		{"", "", true},
	} {
		if got := ASCIIFoldEq(c.s, c.lower); got != c.want {
			t.Errorf("ASCIIFoldEq(%q, %q) = %v", c.s, c.lower, got)
		}
		if got := ASCIIFoldEq([]byte(c.s), c.lower); got != c.want {
			t.Errorf("ASCIIFoldEq([]byte %q, %q) = %v", c.s, c.lower, got)
		}
	}
}
