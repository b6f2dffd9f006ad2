package model

import "strings"

// NormHost is the one form of a host name that calls, specs and the
// inventory compare in: surrounding space, the port and a trailing dot are
// dropped, letters are lower-cased; an IPv6 literal keeps its brackets
// ("[::1]:8080" → "[::1]"). The parser sets Call.Host with it and
// discovery normalises spec servers and --spec HOST=FILE with it, so a spec
// for "api.local:8080" matches traffic to that host.
func NormHost(h string) string {
	h = strings.TrimSpace(h)
	if h == "" {
		return ""
	}
	if h[0] == '[' {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[:i+1]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if ch := h[i]; ch >= 'A' && ch <= 'Z' || ch >= 0x80 {
			return strings.ToLower(h)
		}
	}
	return h // already normal: no allocation
}
