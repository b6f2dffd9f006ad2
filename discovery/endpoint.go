package discovery

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/apisensor/apisensor/model"
)

// nameSet is a capped set of short strings; names past the cap are dropped
// so a hostile client cannot grow it.
type nameSet struct {
	m map[string]struct{}
}

func (s *nameSet) add(name string, limit int) {
	if _, ok := s.m[name]; !ok && s.admit(len(name), limit) {
		s.m[strings.Clone(name)] = struct{}{}
	}
}

// addBytes is add for a name in scratch memory (a parsed body's key): it
// copies only a name it keeps.
func (s *nameSet) addBytes(name []byte, limit int) {
	if _, ok := s.m[string(name)]; !ok && s.admit(len(name), limit) {
		s.m[string(name)] = struct{}{}
	}
}

// admit says whether a new name n bytes long fits.
func (s *nameSet) admit(n, limit int) bool {
	if len(s.m) >= limit || n > 128 {
		return false
	}
	if s.m == nil {
		s.m = make(map[string]struct{}, 4)
	}
	return true
}

func (s *nameSet) merge(o *nameSet, limit int) {
	for k := range o.m {
		s.add(k, limit)
	}
}

func (s *nameSet) sorted() []string {
	if len(s.m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(s.m))
}

// Finding kinds discovery emits, in output order.
const (
	kShadow = iota
	kZombie
	kUnauth
	kExposure
	kWeakAuth
	kInsecure
	numKinds
)

var kindInfo = [numKinds]struct {
	typ   model.FindingType
	owasp string
}{
	{model.FindingShadowAPI, "API9:2023"},
	{model.FindingZombieAPI, "API9:2023"},
	{model.FindingUnauthenticatedAccess, "API2:2023"},
	{model.FindingDataExposure, "API3:2023"},
	{model.FindingWeakAuth, "API2:2023"},
	{model.FindingInsecureConfig, "API8:2023"},
}

// findingState is one finding as it grows.
type findingState struct {
	first, last time.Time
	count       int64
	severity    model.Severity
	ips         []netip.Addr // sorted, capped
	reasons     map[string]string
	seen        uint32 // reason bits (r*) known to be in reasons
}

// endpoint is one (host, method, template) and everything learned about it.
type endpoint struct {
	host     *hostState
	node     *node     // learned template; nil when a spec path matched
	specNode *specNode // documented path matched (any method)
	method   string

	first, last time.Time
	calls       int64
	ok2xx       int64
	statuses    statusSet
	lat         *ddsketch.DDSketch
	authMask    uint8
	unauthOK    int64
	sens        uint16
	sensEv      map[uint16]string
	secHdr      uint16
	reqCT       nameSet
	query       nameSet
	reqKeys     nameSet
	respKeys    nameSet
	reqSchema   *schema
	respSchemas map[uint16]*schema
	posClasses  []uint16
	apiKeys     nameSet // "in:name" of API keys seen, for security schemes

	tmpl    string
	tmplGen uint64
	// newer is the documented operation this endpoint is an older version
	// of, found with tmpl (nil: none).
	newer *specOp

	findings [numKinds]*findingState
}

var securityHeaders = [...]string{
	"Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
	"X-Frame-Options", "Referrer-Policy", "Permissions-Policy", "Cache-Control",
	"Cross-Origin-Resource-Policy", "Cross-Origin-Opener-Policy",
}

// Bits of securityHeaders that insecure checks per call.
const (
	secHSTS = 1 << 0
	secXCTO = 1 << 2
)

// mergeEndpoints folds src into dst when a promotion makes them one
// endpoint; src is dropped from the inventory.
func (inv *Inventory) mergeEndpoints(dst, src *endpoint) {
	inv.endpointCount--
	dst.host.endpoints--
	if src.first.Before(dst.first) {
		dst.first = src.first
	}
	if src.last.After(dst.last) {
		dst.last = src.last
	}
	dst.calls += src.calls
	dst.ok2xx += src.ok2xx
	for _, sc := range src.statuses {
		dst.statuses.add(sc.code, sc.n)
	}
	if src.lat != nil && dst.lat != nil {
		_ = dst.lat.MergeWith(src.lat) // same mapping by construction: cannot fail
	}
	dst.authMask |= src.authMask
	dst.unauthOK += src.unauthOK
	for k, v := range src.sensEv {
		if dst.sens&k == 0 {
			if dst.sensEv == nil {
				dst.sensEv = map[uint16]string{}
			}
			dst.sensEv[k] = v
		}
	}
	dst.sens |= src.sens
	dst.secHdr |= src.secHdr
	lim := inv.cfg.MaxSetItems
	slim := inv.schemaLimits()
	dst.reqCT.merge(&src.reqCT, lim)
	dst.query.merge(&src.query, lim)
	dst.reqKeys.merge(&src.reqKeys, lim)
	dst.respKeys.merge(&src.respKeys, lim)
	dst.apiKeys.merge(&src.apiKeys, lim)
	if src.reqSchema != nil {
		if dst.reqSchema == nil {
			dst.reqSchema = &schema{}
		}
		dst.reqSchema.merge(src.reqSchema, slim)
	}
	for st, s := range src.respSchemas {
		if d, ok := dst.respSchemas[st]; ok {
			d.merge(s, slim)
		} else if len(dst.respSchemas) < maxRespSchemas {
			if dst.respSchemas == nil {
				dst.respSchemas = map[uint16]*schema{}
			}
			dst.respSchemas[st] = s
		}
	}
	for i, m := range src.posClasses {
		if i < len(dst.posClasses) {
			dst.posClasses[i] |= m
		}
	}
	for k, f := range src.findings {
		if f == nil {
			continue
		}
		d := dst.findings[k]
		if d == nil {
			dst.findings[k] = f
			continue
		}
		inv.findingCount--
		d.count += f.count
		if f.first.Before(d.first) {
			d.first = f.first
		}
		if f.last.After(d.last) {
			d.last = f.last
		}
		d.severity = max(d.severity, f.severity)
		for _, ip := range f.ips {
			d.addIP(ip, inv.cfg.MaxFindingIPs)
		}
		for r, v := range f.reasons {
			if _, ok := d.reasons[r]; !ok {
				d.reasons[r] = v
			}
		}
		d.seen |= f.seen
	}
}

// statusSet counts calls per status code, at most maxStatuses codes (a
// later code past the cap is not counted). A slice, not a map: an endpoint
// sees a handful of codes; the map lookup was 5% of BenchmarkObserve.
type statusSet []statusCount

type statusCount struct {
	code uint16
	n    int64
}

func (s *statusSet) add(code uint16, n int64) {
	for i := range *s {
		if (*s)[i].code == code {
			(*s)[i].n += n
			return
		}
	}
	if len(*s) < maxStatuses {
		*s = append(*s, statusCount{code, n})
	}
}

const (
	maxStatuses    = 64
	maxRespSchemas = 16
)

func (f *findingState) addIP(ip netip.Addr, limit int) {
	if !ip.IsValid() {
		return
	}
	lo, hi := 0, len(f.ips)
	for lo < hi {
		m := (lo + hi) / 2
		if f.ips[m].Less(ip) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(f.ips) && f.ips[lo] == ip {
		return
	}
	if len(f.ips) >= limit {
		return
	}
	f.ips = append(f.ips, netip.Addr{})
	copy(f.ips[lo+1:], f.ips[lo:])
	f.ips[lo] = ip
}
