package discovery

import (
	"strings"

	"github.com/apisensor/apisensor/model"
)

// Response header values the per-call path reads (first occurrence, as
// model.Headers.Get returns it).
const (
	hvContentType = iota
	hvACAO
	hvACAC
	hvServer
	hvPoweredBy
	hvAspNet
	numHdrVals
)

// respHdrs is what one call's response headers tell the per-call path,
// gathered in a single pass: the security headers present and the first
// value of each hv* header.
type respHdrs struct {
	sec   uint16 // bit i: securityHeaders[i] is present
	found uint8  // bit v: header v was seen (its value may be empty)
	vals  [numHdrVals]string
}

func (r *respHdrs) get(v int) string { return r.vals[v] }

// hdrWant is one header name the pass looks for: a security header (sec
// >= 0, its index) or a value (val >= 0).
type hdrWant struct {
	lower    string
	sec, val int8
}

var hdrWants = func() []hdrWant {
	var w []hdrWant
	for i, h := range securityHeaders {
		w = append(w, hdrWant{lower: strings.ToLower(h), sec: int8(i), val: -1})
	}
	for v, h := range [numHdrVals]string{
		hvContentType: "Content-Type", hvACAO: "Access-Control-Allow-Origin", hvACAC: "Access-Control-Allow-Credentials",
		hvServer: "Server", hvPoweredBy: "X-Powered-By", hvAspNet: "X-AspNet-Version",
	} {
		w = append(w, hdrWant{lower: strings.ToLower(h), sec: -1, val: int8(v)})
	}
	return w
}()

// hdrByLen indexes hdrWants by name length: a header name is compared only
// with the wanted names of its length.
var hdrByLen = func() (t [33][]hdrWant) {
	for _, w := range hdrWants {
		t[len(w.lower)] = append(t[len(w.lower)], w)
	}
	return t
}()

// scanRespHeaders classifies each response header once, comparing a name
// only with the wanted names of its length: 64 ns for a typical block
// against 291 ns for the 9 Has and 6 Get loops it replaces
// (BenchmarkScanRespHeaders vs BenchmarkHeaderLoops, best of 5).
func scanRespHeaders(hs model.Headers) respHdrs {
	var r respHdrs
	for i := range hs {
		name := hs[i].Name
		if !model.IsASCII(name) {
			// strings.EqualFold folds K (Kelvin) and ſ to k and s: such a
			// name may match a wanted name of another length.
			for _, w := range hdrWants {
				if strings.EqualFold(name, w.lower) {
					r.note(w, hs[i].Value)
				}
			}
			continue
		}
		if len(name) >= len(hdrByLen) {
			continue
		}
		for _, w := range hdrByLen[len(name)] {
			if model.ASCIIFoldEq(name, w.lower) {
				r.note(w, hs[i].Value)
			}
		}
	}
	return r
}

func (r *respHdrs) note(w hdrWant, value string) {
	if w.sec >= 0 {
		r.sec |= 1 << w.sec
		return
	}
	if r.found&(1<<w.val) == 0 {
		r.found |= 1 << w.val
		r.vals[w.val] = value
	}
}
