package model

import "testing"

func TestNormHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"api.shop.test":    "api.shop.test",
		" API.Shop.Test. ": "api.shop.test",
		"api.local:8080":   "api.local",
		"api:80":           "api",
		"api:443":          "api",
		"10.0.0.1:8443":    "10.0.0.1",
		"[::1]:8080":       "[::1]",
		"[2001:DB8::1]":    "[2001:db8::1]",
		"2001:db8::1":      "2001:db8::1", // unbracketed IPv6: no port to strip
		"caf\u00c9.test":   "caf\u00e9.test",
		"x:80.":            "x",
	} {
		got := NormHost(in)
		if got != want {
			t.Errorf("NormHost(%q) = %q, want %q", in, got, want)
		}
		if again := NormHost(got); again != got {
			t.Errorf("NormHost not idempotent on %q: %q", got, again)
		}
	}
}
