package discovery

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/valyala/fastjson"
	"go.uber.org/zap"

	"github.com/apisensor/apisensor/model"
)

// hostState is everything known about one host.
type hostState struct {
	name      string
	root      *node
	nodes     int
	endpoints int
	last      time.Time
	gen       uint64 // bumped when a promotion renames templates
	valsHeld  int    // entries in the vals maps of provisional positions (capped at MaxNodesPerHost)
	spec      *hostSpec
	specEps   map[specKey]*endpoint
}

type specKey struct{ tmpl, method string }

// Inventory is the API inventory. One goroutine owns it.
type Inventory struct {
	cfg   Config
	log   *zap.Logger
	specs map[string]*hostSpec // host (or wildcardHost) → documented operations
	hosts map[string]*hostState

	endpointCount int
	findingCount  int
	stats         Stats
	segBuf        []string
	hits          []sensHit
	callStack     bool     // the current call's response held a stack trace
	resp          respHdrs // the current call's response headers
	jp            jsonParser
	shapes        map[methodShape]int // shouldPromote scratch
	counts        []int64             // shouldPromote scratch
	lits          []keyedNode         // shouldPromote scratch
	words         map[string]struct{} // sharedContinuations scratch
}

// New builds an inventory and loads the configured specs. A missing or
// broken spec is an error naming the file.
func New(cfg Config, log *zap.Logger) (*Inventory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	inv := &Inventory{cfg: cfg, log: log.Named("discovery"), specs: map[string]*hostSpec{}, hosts: map[string]*hostState{}}
	for _, in := range cfg.Specs {
		doc, err := LoadSpecFile(in.Path)
		if err != nil {
			return nil, err
		}
		n := addSpec(inv.specs, doc, in)
		inv.log.Info("spec loaded", zap.String("file", in.Path), zap.String("host", in.Host), zap.Int("operations", n))
	}
	finishSpecs(inv.specs)
	return inv, nil
}

// isReal says whether a status is an answer from an API: scanners' 404s, a
// missing response and 501s do not create endpoints.
func isReal(status uint16) bool {
	return status >= 100 && status != 404 && status != 410 && status != 501
}

func (inv *Inventory) hostFor(name string, create bool) *hostState {
	if h := inv.hosts[name]; h != nil || !create {
		return h
	}
	if len(inv.hosts) >= inv.cfg.MaxHosts {
		inv.evictHosts()
	}
	h := &hostState{name: strings.Clone(name), root: &node{}, nodes: 1}
	h.spec = inv.specs[name]
	if h.spec == nil {
		h.spec = inv.specs[wildcardHost]
	}
	if h.spec != nil {
		h.specEps = map[specKey]*endpoint{}
	}
	inv.hosts[h.name] = h
	return h
}

// evictHosts drops the least recently seen tenth of the hosts.
func (inv *Inventory) evictHosts() {
	hs := make([]*hostState, 0, len(inv.hosts))
	for _, h := range inv.hosts {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool {
		if !hs[i].last.Equal(hs[j].last) {
			return hs[i].last.Before(hs[j].last)
		}
		return hs[i].name < hs[j].name
	})
	for _, h := range hs[:max(1, len(hs)/10)] {
		inv.forEachEndpoint(h, inv.uncount)
		delete(inv.hosts, h.name)
		inv.stats.HostEvictions++
	}
}

// evictEndpoints drops the least recently seen tenth of the endpoints of h,
// or of all hosts when h is nil.
func (inv *Inventory) evictEndpoints(h *hostState) {
	var eps []*endpoint
	if h != nil {
		inv.forEachEndpoint(h, func(e *endpoint) { eps = append(eps, e) })
	} else {
		for _, name := range slices.Sorted(maps.Keys(inv.hosts)) {
			inv.forEachEndpoint(inv.hosts[name], func(e *endpoint) { eps = append(eps, e) })
		}
	}
	// The counters must match the tree; if they ever drift, trust the tree
	// (a wrong counter must not turn into a panic or an eviction storm).
	if h != nil && h.endpoints != len(eps) {
		inv.endpointCount += len(eps) - h.endpoints
		h.endpoints = len(eps)
		inv.stats.CounterResyncs++
	} else if h == nil && inv.endpointCount != len(eps) {
		inv.endpointCount = len(eps)
		inv.stats.CounterResyncs++
	}
	if len(eps) == 0 {
		return
	}
	sort.SliceStable(eps, func(i, j int) bool { return eps[i].last.Before(eps[j].last) })
	for _, e := range eps[:max(1, len(eps)/10)] {
		inv.removeEndpoint(e)
		inv.stats.EndpointEvictions++
	}
}

// makeRoom evicts endpoints when h or the whole inventory is at its cap,
// before a call may make a new one.
func (inv *Inventory) makeRoom(h *hostState) {
	if h.endpoints >= inv.cfg.MaxEndpointsPerHost {
		inv.evictEndpoints(h)
	} else if inv.endpointCount >= inv.cfg.MaxEndpoints {
		inv.evictEndpoints(nil)
	}
}

// uncount takes e and its findings out of the counts that the caps are
// checked against.
func (inv *Inventory) uncount(e *endpoint) {
	e.host.endpoints--
	inv.endpointCount--
	for _, f := range e.findings {
		if f != nil {
			inv.findingCount--
		}
	}
}

func (inv *Inventory) removeEndpoint(e *endpoint) {
	h := e.host
	inv.uncount(e)
	if e.node != nil {
		n := e.node
		for i, x := range n.eps {
			if x == e {
				n.eps = append(n.eps[:i], n.eps[i+1:]...)
				break
			}
		}
		h.prune(n)
		return
	}
	delete(h.specEps, specKey{e.specNode.tmpl, e.method})
}

// forEachEndpoint visits the endpoints of h in a fixed order.
func (inv *Inventory) forEachEndpoint(h *hostState, fn func(*endpoint)) {
	var walk func(n *node)
	walk = func(n *node) {
		for _, e := range n.eps {
			fn(e)
		}
		for _, k := range slices.Sorted(maps.Keys(n.children)) {
			walk(n.children[k])
		}
	}
	walk(h.root)
	keys := make([]specKey, 0, len(h.specEps))
	for k := range h.specEps {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].tmpl != keys[j].tmpl {
			return keys[i].tmpl < keys[j].tmpl
		}
		return keys[i].method < keys[j].method
	})
	for _, k := range keys {
		fn(h.specEps[k])
	}
}

func (inv *Inventory) newEndpoint(h *hostState, n *node, sn *specNode, method string) *endpoint {
	e := &endpoint{host: h, node: n, specNode: sn, method: strings.Clone(method)}
	// The sketch config is validated, so construction cannot fail.
	e.lat, _ = ddsketch.LogCollapsingLowestDenseDDSketch(inv.cfg.LatencyAccuracy, inv.cfg.LatencyMaxBins)
	h.endpoints++
	inv.endpointCount++
	if n != nil {
		n.eps = append(n.eps, e)
	} else {
		h.specEps[specKey{sn.tmpl, e.method}] = e
	}
	return e
}

// Observe learns from one call: it sets c.Template and returns the
// findings this call created or grew (see the package doc for the cadence).
func (inv *Inventory) Observe(c *model.Call) []model.Finding {
	inv.stats.Calls++
	inv.callStack = false
	c.Template = ""
	host := model.NormHost(c.Host)
	if host == "" && c.Dst.IsValid() {
		host = c.Dst.Addr().String()
	}
	real := isReal(c.Status)
	path := c.Path
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	segs := splitPath(path, inv.segBuf)
	inv.segBuf = segs
	h := inv.hostFor(host, real)
	if h == nil {
		inv.stats.Ignored++
		return nil
	}
	method := c.Method
	if real {
		// Evict before walking so the node this call lands on is not pruned.
		inv.makeRoom(h)
	}
	var ep *endpoint
	if h.spec != nil {
		if sn := h.spec.root.match(segs); sn != nil {
			ep = h.specEps[specKey{sn.tmpl, method}]
			if ep == nil {
				if c.Status == 0 {
					inv.stats.Ignored++
					return nil
				}
				// A documented path answered: even a 404 is the API's answer.
				if !real {
					inv.makeRoom(h) // a spec endpoint has no node to prune
				}
				ep = inv.newEndpoint(h, nil, sn, method)
			}
		}
	}
	if ep == nil {
		var n *node
		if real {
			n = inv.insert(h, segs, method)
		} else {
			n = h.lookup(segs)
		}
		if n == nil {
			if real {
				inv.stats.NodeCapDrops++ // insert found no room
			} else {
				inv.stats.Ignored++
			}
			return nil
		}
		ep = n.endpoint(method)
		if ep == nil {
			if !real {
				inv.stats.Ignored++
				return nil
			}
			ep = inv.newEndpoint(h, n, nil, method)
		}
	}
	if c.TS.After(h.last) {
		h.last = c.TS
	}
	inv.resp = scanRespHeaders(c.RespHeaders)
	scanned := inv.update(ep, c, segs)
	c.Template = inv.template(ep)
	out := inv.callFindings(ep, c, scanned)
	inv.resp = respHdrs{} // its values point into the call's header block
	return out
}

// update folds the call into the endpoint's aggregates and returns the
// sensitive classes found in this call's response (0 when not sampled).
func (inv *Inventory) update(e *endpoint, c *model.Call, segs []string) (found uint16) {
	e.calls++
	if e.first.IsZero() || c.TS.Before(e.first) {
		e.first = c.TS
	}
	if c.TS.After(e.last) {
		e.last = c.TS
	}
	e.statuses.add(c.Status, 1)
	ok := c.Status >= 200 && c.Status < 300
	if ok {
		e.ok2xx++
	}
	if lat := c.Latency(); lat > 0 {
		_ = e.lat.Add(float64(lat) / float64(time.Millisecond)) // positive and finite: cannot fail
	}
	e.authMask |= 1 << c.Auth.Scheme
	if c.Auth.Scheme == model.AuthNone && ok {
		e.unauthOK++
	}
	if c.Auth.Scheme == model.AuthAPIKey && c.Auth.APIKeyName != "" {
		in := "header:"
		if c.Auth.APIKeyInQuery {
			in = "query:"
		}
		e.apiKeys.add(in+c.Auth.APIKeyName, 8)
	}
	e.secHdr |= inv.resp.sec
	inv.addQuery(e, c.Query)

	sample := e.calls <= int64(inv.cfg.SampleFirst) || e.calls%inv.cfg.SampleEvery == 0
	if !sample {
		return 0
	}
	if len(e.posClasses) < len(segs) {
		e.posClasses = append(e.posClasses, make([]uint16, len(segs)-len(e.posClasses))...)
	}
	for i, s := range segs {
		e.posClasses[i] |= 1 << classify(s, i)
	}
	lim := inv.schemaLimits()
	if ct := mediaType(c.ReqBody.ContentType, c.ReqHeaders); ct != "" {
		e.reqCT.add(ct, 8)
		if isJSON(ct) && len(c.ReqBody.Data) > 0 {
			if v, ok := inv.bodyJSON(&c.ReqBody); ok {
				if e.reqSchema == nil {
					e.reqSchema = &schema{}
				}
				e.reqSchema.addJSON(&inv.jp, v, lim, 0)
				inv.addTopKeys(&e.reqKeys, v)
			}
		}
	}
	if len(c.RespBody.Data) == 0 {
		return 0
	}
	ct := inv.respMediaType(c)
	if !isText(ct) {
		return 0
	}
	data, ok := inv.decoded(&c.RespBody)
	if !ok {
		return 0
	}
	if isJSON(ct) {
		if v, parsed := inv.jp.parseBody(data); parsed {
			s := e.respSchemas[c.Status]
			if s == nil && len(e.respSchemas) < maxRespSchemas {
				if e.respSchemas == nil {
					e.respSchemas = map[uint16]*schema{}
				}
				s = &schema{}
				e.respSchemas[c.Status] = s
			}
			if s != nil {
				s.addJSON(&inv.jp, v, lim, 0)
			}
			inv.addTopKeys(&e.respKeys, v)
			// The shape of the first answer below 300 (in practice 2xx: 1xx
			// have no body); an unparsed status ("2XX") counts as 0.
			if e.node != nil && e.node.shape == 0 && c.Status < 300 {
				e.node.shape, e.node.shapeBy = inv.jp.shapeHash(v), methodCode(e.method)
			}
		}
	}
	inv.hits = scanSensitive(data, inv.hits[:0])
	for _, hit := range inv.hits {
		found |= hit.class
		if e.sens&hit.class == 0 {
			if e.sensEv == nil {
				e.sensEv = map[uint16]string{}
			}
			e.sensEv[hit.class] = hit.evidence
		}
	}
	e.sens |= found
	inv.callStack = hasStackTrace(data)
	return found
}

func (inv *Inventory) schemaLimits() schemaLimits {
	return schemaLimits{props: inv.cfg.MaxSchemaProps, depth: inv.cfg.MaxSchemaDepth}
}

func (inv *Inventory) bodyJSON(b *model.Body) (*fastjson.Value, bool) {
	data, ok := inv.decoded(b)
	if !ok {
		return nil, false
	}
	return inv.jp.parseBody(data)
}

// decoded is at most ScanBytes of b after content decoding; false (and a
// BodyErrors count) when decoding failed before producing anything.
func (inv *Inventory) decoded(b *model.Body) ([]byte, bool) {
	data, err := b.Decoded(inv.cfg.ScanBytes)
	if err != nil && len(data) == 0 {
		inv.stats.BodyErrors++
		return nil, false
	}
	return data[:min(len(data), inv.cfg.ScanBytes)], true
}

// addTopKeys adds the top-level keys of parsed body v to set, in sorted
// order.
func (inv *Inventory) addTopKeys(set *nameSet, v *fastjson.Value) {
	obj := topObj(v)
	if obj == nil {
		return
	}
	for _, i := range inv.jp.sortedMembers(obj) {
		set.addBytes(inv.jp.members[i].key, inv.cfg.MaxSetItems)
	}
}

func (inv *Inventory) addQuery(e *endpoint, q string) {
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		name, _, _ := strings.Cut(part, "=")
		if name == "" {
			continue
		}
		if strings.IndexByte(name, '%') >= 0 || strings.IndexByte(name, '+') >= 0 {
			if u, err := url.QueryUnescape(name); err == nil {
				name = u
			}
		}
		e.query.add(name, inv.cfg.MaxSetItems)
	}
}

// respMediaType is mediaType for the current call's response.
func (inv *Inventory) respMediaType(c *model.Call) string {
	ct := c.RespBody.ContentType
	if ct == "" {
		ct = inv.resp.get(hvContentType)
	}
	return mediaTypeOf(ct)
}

func mediaType(ct string, h model.Headers) string {
	if ct == "" {
		ct = h.Get("Content-Type")
	}
	return mediaTypeOf(ct)
}

func mediaTypeOf(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	for i := 0; i < len(ct); i++ {
		if ct[i] >= 'A' && ct[i] <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

func isJSON(ct string) bool { return strings.Contains(ct, "json") }

func isText(ct string) bool {
	return ct == "" || isJSON(ct) || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "xml") ||
		strings.Contains(ct, "javascript") || ct == "application/x-www-form-urlencoded"
}

var stackMarkers = [...][]byte{
	[]byte("Traceback (most recent call last)"), []byte("Exception in thread \""), []byte("\tat java."),
	[]byte("\n\tat "), []byte("goroutine 1 [running]"), []byte("panic: runtime error"),
	[]byte("System.NullReferenceException"), []byte("   at System."), []byte(".php on line "), []byte("node_modules/"),
}

// hasStackTrace searches the body in place (a string conversion would copy
// up to ScanBytes of every sampled body).
func hasStackTrace(b []byte) bool {
	for _, m := range stackMarkers {
		if bytes.Contains(b, m) {
			return true
		}
	}
	return false
}

// template renders an endpoint's template, cached until a promotion.
func (inv *Inventory) template(e *endpoint) string {
	if e.node == nil {
		return e.specNode.tmpl
	}
	if e.tmplGen == e.host.gen+1 {
		return e.tmpl
	}
	t, _ := e.node.template()
	// An older version of a documented path takes the spec's parameter names.
	old := inv.newerDocumented(e.host, t, e.method)
	if old != nil {
		t = renameParams(t, old.params)
	}
	e.tmpl, e.tmplGen, e.newer = t, e.host.gen+1, old
	return t
}

// newerDocumented finds the documented operation that a learned template is
// an older version of (/v1/users/{id} when the spec has /v2/users/{id}).
func (inv *Inventory) newerDocumented(h *hostState, tmpl, method string) *specOp {
	if h.spec == nil {
		return nil
	}
	v, ok := firstVersion(tmpl)
	if !ok {
		return nil
	}
	for _, o := range h.spec.shapes[versionFreeShape(tmpl)] {
		if o.method != method {
			continue
		}
		if ov, ok := firstVersion(o.tmpl); ok && ov > v {
			return o
		}
	}
	return nil
}

func renameParams(tmpl string, names []string) string {
	var b strings.Builder
	k := 0
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] == '{' {
			j := strings.IndexByte(tmpl[i:], '}')
			if j > 0 && k < len(names) {
				b.WriteString("{" + names[k] + "}")
				k++
				i += j
				continue
			}
		}
		b.WriteByte(tmpl[i])
	}
	return b.String()
}

// state classifies an endpoint against its host's spec.
func (inv *Inventory) state(e *endpoint) model.EndpointState {
	h := e.host
	if h.spec == nil {
		return model.StateObserved
	}
	if e.specNode != nil {
		op := e.specNode.ops[e.method]
		if op == nil {
			return model.StateShadow
		}
		if op.deprecated && e.ok2xx > 0 {
			return model.StateZombie
		}
		return model.StateDocumented
	}
	// template() found the newer operation with the template, and keeps it
	// until the template changes: state runs on every call.
	if inv.template(e); e.newer != nil && e.ok2xx > 0 {
		return model.StateZombie
	}
	return model.StateShadow
}

// mark counts one call toward finding kind k of e and reports whether the
// finding should be returned now: when created, when a new reason appears,
// and when the count reaches a power of two.
func (inv *Inventory) mark(e *endpoint, c *model.Call, k int, sev model.Severity, bit uint32, reason, detail string) bool {
	if known(e, k, bit, sev) {
		return false
	}
	f := e.findings[k]
	if f == nil {
		if inv.findingCount >= inv.cfg.MaxFindings {
			inv.stats.FindingsDropped++
			return false
		}
		inv.findingCount++
		f = &findingState{first: c.TS, last: c.TS, reasons: map[string]string{}}
		e.findings[k] = f
	}
	emit := false
	if _, ok := f.reasons[reason]; !ok {
		f.reasons[reason] = detail
		emit = true
	}
	f.seen |= bit
	if sev > f.severity {
		f.severity = sev
		emit = true
	}
	return emit
}

// Reason bits of findingState.seen, one per fixed reason of a kind (the
// kinds have separate states, so bits repeat across kinds; data exposure
// uses the sensitive class bits).
const (
	rUndocumented = 1 << iota
	rDeprecated
	rOldVersion
	rSensUnauth
	rAlgNone
	rNoExp
	rBasic
	rKeyInQuery
	rCORS
	rNoXCTO
	rNoHSTS
	rVersion
	rStack
)

// known reports that mark would change nothing: finding k of e already
// holds the reason (bit) at severity sev or above. Most calls of a busy
// endpoint repeat known reasons; this skips the reasons map and the detail.
func known(e *endpoint, k int, bit uint32, sev model.Severity) bool {
	f := e.findings[k]
	return f != nil && f.seen&bit != 0 && sev <= f.severity
}

// bump ends a call's contribution to finding k (once per call and kind).
func (inv *Inventory) bump(e *endpoint, c *model.Call, k int, emit bool, out []model.Finding) []model.Finding {
	f := e.findings[k]
	if f == nil {
		return out
	}
	f.count++
	if c.TS.Before(f.first) {
		f.first = c.TS
	}
	if c.TS.After(f.last) {
		f.last = c.TS
	}
	f.addIP(c.ClientIP, inv.cfg.MaxFindingIPs)
	if emit || f.count&(f.count-1) == 0 {
		out = append(out, inv.finding(e, k))
	}
	return out
}

func (inv *Inventory) callFindings(e *endpoint, c *model.Call, found uint16) []model.Finding {
	var out []model.Finding
	real := isReal(c.Status)
	ok := c.Status >= 200 && c.Status < 300
	switch st := inv.state(e); {
	case st == model.StateShadow && real:
		emit := inv.mark(e, c, kShadow, model.SeverityMedium, rUndocumented, "undocumented", "observed but in no spec for the host")
		out = inv.bump(e, c, kShadow, emit, out)
	case st == model.StateZombie:
		bit, reason, detail := uint32(rDeprecated), "deprecated", "documented as deprecated, still answering"
		if e.specNode == nil {
			bit, reason, detail = rOldVersion, "old_version", ""
			if !known(e, kZombie, bit, model.SeverityHigh) { // mark ignores the detail of a known reason
				// state, just above, set e.newer (template).
				detail = "older version of " + e.newer.tmpl
			}
		}
		emit := inv.mark(e, c, kZombie, model.SeverityHigh, bit, reason, detail)
		out = inv.bump(e, c, kZombie, emit, out)
	}
	if c.Auth.Scheme == model.AuthNone && ok && e.sens&sensUnauthClasses != 0 {
		detail := ""
		if !known(e, kUnauth, rSensUnauth, model.SeverityHigh) { // mark ignores the detail of a known reason
			detail = sensList(e.sens & sensUnauthClasses)
		}
		emit := inv.mark(e, c, kUnauth, model.SeverityHigh, rSensUnauth, "sensitive_without_credentials", detail)
		out = inv.bump(e, c, kUnauth, emit, out)
	}
	if found != 0 {
		emit := false
		for i := 0; i < numSens; i++ {
			cl := uint16(1) << i
			if found&cl != 0 {
				emit = inv.mark(e, c, kExposure, sensSeverity(cl), uint32(cl), sensNames[i], e.sensEv[cl]) || emit
			}
		}
		out = inv.bump(e, c, kExposure, emit, out)
	}
	if emit, any := inv.weakAuth(e, c); any {
		out = inv.bump(e, c, kWeakAuth, emit, out)
	}
	if emit, any := inv.insecure(e, c, ok); any {
		out = inv.bump(e, c, kInsecure, emit, out)
	}
	return out
}

// Sensitive classes that make an unauthenticated answer a finding.
const sensUnauthClasses = sensEmail | sensPhone | sensCard | sensIBAN | sensNationalID | sensJWT | sensPrivateKey | sensCloudKey | sensPassword

func sensSeverity(cl uint16) model.Severity {
	switch cl {
	case sensCard, sensPrivateKey, sensCloudKey, sensPassword:
		return model.SeverityHigh
	case sensIBAN, sensNationalID, sensJWT:
		return model.SeverityMedium
	}
	return model.SeverityLow
}

func sensList(m uint16) string {
	var s []string
	for i := 0; i < numSens; i++ {
		if m&(1<<i) != 0 {
			s = append(s, sensNames[i])
		}
	}
	return strings.Join(s, ",")
}

func (inv *Inventory) weakAuth(e *endpoint, c *model.Call) (emit, any bool) {
	a := &c.Auth
	if a.Scheme == model.AuthBearerJWT || a.JWTAlg != "" {
		if strings.EqualFold(a.JWTAlg, "none") {
			emit = inv.mark(e, c, kWeakAuth, model.SeverityCritical, rAlgNone, "jwt_alg_none", "JWT with alg none (unsigned)") || emit
			any = true
		}
		if !a.JWTHasExp {
			emit = inv.mark(e, c, kWeakAuth, model.SeverityMedium, rNoExp, "jwt_no_expiry", "JWT without exp claim") || emit
			any = true
		}
	}
	if a.Scheme == model.AuthBasic {
		emit = inv.mark(e, c, kWeakAuth, model.SeverityHigh, rBasic, "basic_cleartext", "Basic credentials over cleartext HTTP") || emit
		any = true
	}
	if a.APIKeyInQuery {
		detail := ""
		if !known(e, kWeakAuth, rKeyInQuery, model.SeverityMedium) { // mark ignores the detail of a known reason
			detail = "API key in query parameter " + a.APIKeyName
		}
		emit = inv.mark(e, c, kWeakAuth, model.SeverityMedium, rKeyInQuery, "api_key_in_query", detail) || emit
		any = true
	}
	return emit, any
}

func (inv *Inventory) insecure(e *endpoint, c *model.Call, ok bool) (emit, any bool) {
	if origin := c.ReqHeaders.Get("Origin"); origin != "" && origin != "null" {
		acao := inv.resp.get(hvACAO)
		if acao == origin && strings.EqualFold(strings.TrimSpace(inv.resp.get(hvACAC)), "true") {
			emit = inv.mark(e, c, kInsecure, model.SeverityHigh, rCORS, "cors_reflects_origin_with_credentials", "Access-Control-Allow-Origin echoes the request Origin with credentials allowed") || emit
			any = true
		}
	}
	if ok && c.Auth.Scheme != model.AuthNone && isJSON(inv.respMediaType(c)) {
		if inv.resp.sec&secXCTO == 0 {
			emit = inv.mark(e, c, kInsecure, model.SeverityLow, rNoXCTO, "missing_x_content_type_options", "authenticated JSON answer without X-Content-Type-Options") || emit
			any = true
		}
		if inv.resp.sec&secHSTS == 0 {
			emit = inv.mark(e, c, kInsecure, model.SeverityLow, rNoHSTS, "missing_hsts", "authenticated JSON answer without Strict-Transport-Security") || emit
			any = true
		}
	}
	for _, hv := range [...]struct {
		name string
		v    int
	}{{"Server", hvServer}, {"X-Powered-By", hvPoweredBy}, {"X-AspNet-Version", hvAspNet}} {
		if v := inv.resp.get(hv.v); v != "" && strings.ContainsAny(v, "0123456789") {
			if len(v) > 64 {
				v = v[:64]
			}
			detail := ""
			if !known(e, kInsecure, rVersion, model.SeverityLow) { // mark ignores the detail of a known reason
				detail = hv.name + ": " + v
			}
			emit = inv.mark(e, c, kInsecure, model.SeverityLow, rVersion, "version_disclosure", detail) || emit
			any = true
			break
		}
	}
	if inv.callStack {
		emit = inv.mark(e, c, kInsecure, model.SeverityMedium, rStack, "stack_trace", "response body holds a stack trace") || emit
		any = true
	}
	return emit, any
}

// finding renders finding kind k of e.
func (inv *Inventory) finding(e *endpoint, k int) model.Finding {
	f := e.findings[k]
	tmpl := inv.template(e)
	info := kindInfo[k]
	sum := sha256.Sum256([]byte(string(info.typ) + "|" + e.host.name + "|" + e.method + "|" + tmpl + "|"))
	ev := make(map[string]string, len(f.reasons)+1)
	reasons := slices.Sorted(maps.Keys(f.reasons))
	for _, r := range reasons {
		ev[r] = f.reasons[r]
	}
	ev["reasons"] = strings.Join(reasons, ",")
	ips := append(f.ips[:0:0], f.ips...)
	if ips == nil {
		ips = []netip.Addr{}
	}
	return model.Finding{
		ID:        hex.EncodeToString(sum[:8]),
		Type:      info.typ,
		Severity:  f.severity,
		OWASP:     info.owasp,
		FirstSeen: f.first,
		LastSeen:  f.last,
		Principal: "",
		ClientIPs: ips,
		Host:      e.host.name,
		Method:    e.method,
		Template:  tmpl,
		Count:     f.count,
		Summary:   fmt.Sprintf("%s %s %s: %s (%d calls)", info.typ, e.method, tmpl, strings.Join(reasons, ", "), f.count),
		Evidence:  ev,
	}
}

// Findings returns every discovery finding with its final count, sorted by
// host, template, method and type.
func (inv *Inventory) Findings() []model.Finding {
	var out []model.Finding
	for _, name := range slices.Sorted(maps.Keys(inv.hosts)) {
		inv.forEachEndpoint(inv.hosts[name], func(e *endpoint) {
			for k := range e.findings {
				if e.findings[k] != nil && e.findings[k].count > 0 {
					out = append(out, inv.finding(e, k))
				}
			}
		})
	}
	slices.SortStableFunc(out, func(a, b model.Finding) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Template, b.Template),
			cmp.Compare(a.Method, b.Method), cmp.Compare(a.Type, b.Type))
	})
	return out
}

// Stats returns the counters.
func (inv *Inventory) Stats() Stats {
	s := inv.stats
	s.Hosts = len(inv.hosts)
	s.Endpoints = inv.endpointCount
	s.Nodes = 0
	for _, h := range inv.hosts {
		s.Nodes += h.nodes
	}
	return s
}

// Endpoints returns the inventory, unused documented operations included,
// sorted by host, template, method.
func (inv *Inventory) Endpoints() []model.Endpoint {
	var out []model.Endpoint
	seen := map[string]map[specKey]bool{}
	for _, name := range slices.Sorted(maps.Keys(inv.hosts)) {
		h := inv.hosts[name]
		inv.forEachEndpoint(h, func(e *endpoint) {
			out = append(out, inv.render(e))
			if e.specNode != nil {
				if seen[name] == nil {
					seen[name] = map[specKey]bool{}
				}
				seen[name][specKey{e.specNode.tmpl, e.method}] = true
			}
		})
	}
	// Unused: documented operations never observed, per host the spec names
	// (a host-less spec is reported for every observed host it covered).
	for _, host := range slices.Sorted(maps.Keys(inv.specs)) {
		hs := inv.specs[host]
		targets := []string{host}
		if host == wildcardHost {
			targets = nil
			for _, name := range slices.Sorted(maps.Keys(inv.hosts)) {
				if inv.hosts[name].spec == hs {
					targets = append(targets, name)
				}
			}
			if len(targets) == 0 {
				targets = []string{wildcardHost}
			}
		}
		for _, t := range targets {
			for _, o := range hs.ops {
				if seen[t][specKey{o.nodeTmpl, o.method}] {
					continue
				}
				out = append(out, model.Endpoint{
					Host: t, Method: o.method, Template: o.tmpl, State: model.StateUnused,
					Statuses: map[string]int64{}, Auth: []string{}, Sensitive: []string{},
					Detail: &model.EndpointDetail{Deprecated: o.deprecated, Spec: o.file},
				})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b model.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Template, b.Template), cmp.Compare(a.Method, b.Method))
	})
	return out
}

func (inv *Inventory) render(e *endpoint) model.Endpoint {
	tmpl := inv.template(e)
	ep := model.Endpoint{
		Host: e.host.name, Method: e.method, Template: tmpl, State: inv.state(e),
		FirstSeen: e.first, LastSeen: e.last, Calls: e.calls,
		Statuses: make(map[string]int64, len(e.statuses)), Auth: []string{}, Sensitive: []string{},
	}
	for _, sc := range e.statuses {
		ep.Statuses[strconv.Itoa(int(sc.code))] = sc.n
	}
	for a := model.AuthNone; a <= model.AuthOther; a++ {
		if e.authMask&(1<<a) != 0 {
			ep.Auth = append(ep.Auth, a.String())
		}
	}
	for i := 0; i < numSens; i++ {
		if e.sens&(1<<i) != 0 {
			ep.Sensitive = append(ep.Sensitive, sensNames[i])
		}
	}
	d := &model.EndpointDetail{
		RequestContentTypes: e.reqCT.sorted(),
		QueryParams:         e.query.sorted(),
		RequestBodyKeys:     e.reqKeys.sorted(),
		ResponseBodyKeys:    e.respKeys.sorted(),
		UnauthenticatedOK:   e.unauthOK,
	}
	if !e.lat.IsEmpty() {
		q, err := e.lat.GetValuesAtQuantiles([]float64{0.5, 0.95})
		if err == nil {
			d.LatencyP50Ms = round3(q[0])
			d.LatencyP95Ms = round3(q[1])
		}
	}
	for i, hn := range securityHeaders {
		if e.secHdr&(1<<i) != 0 {
			d.SecurityHeaders = append(d.SecurityHeaders, hn)
		}
	}
	if e.specNode != nil {
		if op := e.specNode.ops[e.method]; op != nil {
			d.Deprecated = op.deprecated
			d.Spec = op.file
		}
	}
	if e.reqSchema != nil {
		d.RequestSchema = e.reqSchema.toMap()
	}
	if len(e.respSchemas) > 0 {
		d.ResponseSchemas = map[string]any{}
		for st, s := range e.respSchemas {
			d.ResponseSchemas[strconv.Itoa(int(st))] = s.toMap()
		}
	}
	if ps := inv.pathParams(e, tmpl); len(ps) > 0 {
		d.Params = map[string]string{}
		for _, p := range ps {
			d.Params[p.name] = p.typ
			if p.format != "" {
				d.Params[p.name] += ":" + p.format
			}
		}
	}
	ep.Detail = d
	return ep
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

type pathParam struct{ name, typ, format string }

// pathParams lists the template's parameters with types inferred from the
// values seen at their positions.
func (inv *Inventory) pathParams(e *endpoint, tmpl string) []pathParam {
	var out []pathParam
	for i, s := range splitPath(tmpl, nil) {
		a := strings.IndexByte(s, '{')
		b := strings.IndexByte(s, '}')
		if a < 0 || b < a {
			continue
		}
		var mask uint16
		if i < len(e.posClasses) {
			mask = e.posClasses[i]
		}
		typ, format := paramType(mask)
		out = append(out, pathParam{name: s[a+1 : b], typ: typ, format: format})
	}
	return out
}
