package discovery

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/axiomhq/hyperloglog"
)

// paramPrefix starts the key of a parameter child; a raw path segment never
// holds a NUL, so parameter keys cannot collide with literals. The rest of
// the key is the extension kept after the parameter ("{id}.pdf").
const paramPrefix = "\x00"

// strictRatio is the share of values seen once that makes a position a
// parameter when response shapes cannot vouch for it.
const strictRatio = 0.6

// node is one position of a host's template tree.
type node struct {
	parent   *node
	key      string // literal segment, or paramPrefix+ext
	name     string // parameter name (parameter nodes)
	children map[string]*node
	nLit     int                 // literal children
	nextEval int                 // nLit at which shouldPromote looks at the statistics again
	hll      *hyperloglog.Sketch // distinct literal values seen here; dropped once promoted
	count    int64               // real calls that reached this node
	through  int64               // real calls that went on to a child
	promoted bool                // unknown literals here are parameter values
	eps      []*endpoint
	shape    uint64 // response shape of the first successful JSON answer of an endpoint here
	shapeBy  uint8  // the method of that answer (methodCode): shapes compare per method
	classes  uint16 // segment classes seen at a parameter position

	// A position promoted by sibling statistics is provisional: vals counts
	// the literal values routed into its parameter since (capped; nil once
	// confirmed). If they turn out to recur with stable counts, they were
	// names: they go back to literals (see demote).
	vals       map[string]*valStat
	valCalls   int64
	valSingles int

	// formats maps a name to its child "name.{format}" (key name+fmtKey),
	// learned when one name was seen with two format extensions.
	formats map[string]*node
}

// valStat is what a provisional position knows of one value: its calls,
// and the calls that ended at it (leaf) if they all used one method
// (leafM a methodCode; leafMixed when not known to be one).
type valStat struct {
	n, leaf int32
	leafM   uint8
}

const leafMixed = 0xff

// fmtKey ends the key of a "name.{format}" node; a literal key never holds
// a control byte (classify makes such segments parameters).
const fmtKey = ".\x01"

// isFormat reports file extensions that name a representation of the
// same resource (lists.json, lists.jsonp, lists.xml).
func isFormat(ext string) bool {
	switch ext {
	case ".json", ".jsonp", ".xml", ".csv", ".tsv", ".yaml", ".yml", ".html", ".htm", ".txt", ".atom", ".rss",
		".pdf", ".md", ".ics", ".xlsx", ".xls", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".geojson", ".kml":
		return true
	}
	return false
}

// formatChild finds the "name.{format}" child of n for seg.
func (n *node) formatChild(seg string) (*node, bool) {
	if n.formats == nil {
		return nil, false
	}
	name, ext := splitExt(seg)
	if !isFormat(ext) {
		return nil, false
	}
	c, ok := n.formats[name]
	return c, ok
}

// addFormat makes seg's name a "name.{format}" child of n when a sibling
// has the same name with another format extension (lists.json beside
// lists.jsonp), merging those siblings into it. It returns nil otherwise.
func (inv *Inventory) addFormat(h *hostState, n *node, seg string) *node {
	name, ext := splitExt(seg)
	if !isFormat(ext) || name == "" || strings.ContainsAny(name, ".:") {
		return nil
	}
	var sibs []string
	for k, c := range n.children {
		if c.isParam() || len(k) <= len(name) || k[:len(name)] != name {
			continue
		}
		if kn, ke := splitExt(k); kn == name && ke != ext && isFormat(ke) {
			sibs = append(sibs, k)
		}
	}
	if len(sibs) == 0 || h.nodes >= inv.cfg.MaxNodesPerHost {
		return nil
	}
	sort.Strings(sibs)
	h.gen++ // the siblings' templates change
	f := inv.newNode(h, n, strings.Clone(name)+fmtKey)
	n.nLit++
	if n.formats == nil {
		n.formats = map[string]*node{}
	}
	n.formats[f.key[:len(name)]] = f
	for _, k := range sibs {
		c := n.children[k]
		delete(n.children, k)
		n.nLit--
		inv.merge(h, f, c)
	}
	return f
}

func (n *node) isParam() bool { return strings.HasPrefix(n.key, paramPrefix) }

func (n *node) endpoint(method string) *endpoint {
	for _, e := range n.eps {
		if e.method == method {
			return e
		}
	}
	return nil
}

// likeMixed reports a segment of letters and digits (at least one), 8 or
// more long, at a position whose parameter already holds mixed
// alphanumeric ids: a random id that happens to have one digit (utxari8s)
// is one more of them. Names with a digit are rare next to such ids.
func (n *node) likeMixed(seg string) bool {
	if len(seg) < 8 || len(n.children) == 0 {
		return false
	}
	digits := 0
	for i := 0; i < len(seg); i++ {
		ch := seg[i]
		switch {
		case isDigit(ch):
			digits++
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z':
		default:
			return false
		}
	}
	if digits == 0 || digits == len(seg) {
		return false
	}
	p := n.children[paramPrefix]
	return p != nil && p.classes&(1<<segMixed) != 0
}

// segKey classifies a raw segment: literal (key == seg) or a parameter key.
func segKey(seg string, idx int) (key string, cls segClass) {
	cls = classify(seg, idx)
	if cls != segLiteral {
		return paramPrefix, cls
	}
	if name, ext := splitExt(seg); ext != "" {
		if c := classify(name, idx); c != segLiteral && c != segDate {
			return paramPrefix + ext, c
		}
	}
	return seg, segLiteral
}

func paramKeyFor(seg string) string {
	_, ext := splitExt(seg)
	return paramPrefix + ext
}

// splitPath turns "/a/b/" into ["a","b"]; the root is no segments.
func splitPath(p string, buf []string) []string {
	buf = buf[:0]
	p = strings.Trim(p, "/")
	if p == "" {
		return buf
	}
	for {
		i := strings.IndexByte(p, '/')
		if i < 0 {
			return append(buf, p)
		}
		if i > 0 { // "//" collapses
			buf = append(buf, p[:i])
		}
		p = p[i+1:]
	}
}

// lookup walks the tree for segs without changing it; nil when the path
// has no node.
func (h *hostState) lookup(segs []string) *node {
	n := h.root
	for i, seg := range segs {
		if c, ok := n.children[seg]; ok {
			n = c
			continue
		}
		if c, ok := n.formatChild(seg); ok {
			n = c
			continue
		}
		key, cls := segKey(seg, i)
		if cls == segLiteral {
			if !n.promoted && !n.likeMixed(seg) {
				return nil
			}
			key = paramKeyFor(seg)
		}
		c, ok := n.children[key]
		if !ok {
			return nil
		}
		n = c
	}
	return n
}

// insert walks the tree for segs, creating nodes, counting the call and
// promoting positions as the statistics say. It returns nil only when the
// node cap leaves no room.
func (inv *Inventory) insert(h *hostState, segs []string, method string) *node {
	mc := methodCode(method)
	n := h.root
	n.count++
	for i, seg := range segs {
		c, ok := n.children[seg]
		if !ok {
			c, ok = n.formatChild(seg)
		}
		if !ok {
			key, cls := segKey(seg, i)
			if cls == segLiteral && n.likeMixed(seg) {
				key, cls = paramKeyFor(seg), segMixed
			}
			if cls == segLiteral && n.promoted {
				if n.vals != nil && inv.noteValue(h, n, seg, i == len(segs)-1, mc) {
					// split out as a literal (or name.{format}) just now
					if c, ok = n.children[seg]; !ok {
						c, ok = n.formatChild(seg)
					}
				}
				key = paramKeyFor(seg)
				cls = segSlug
			}
			switch {
			case ok:
			case cls == segLiteral:
				if c = inv.addFormat(h, n, seg); c != nil {
					break
				}
				c = inv.addLiteral(h, n, seg)
				if c == nil {
					return nil
				}
				if c.isParam() { // the position was promoted while adding
					cls = segSlug
				}
			default:
				c = inv.paramChild(h, n, key)
				if c == nil {
					return nil
				}
			}
			if c.isParam() {
				c.classes |= 1 << cls
			}
		}
		n.through++
		c.count++
		n = c
	}
	return n
}

// paramNameUnder names a parameter child of parent: after the literal
// before it (users -> userId), "id" under the root or another parameter.
func paramNameUnder(parent *node) string {
	if parent.isParam() || parent.parent == nil {
		return "id"
	}
	return paramName(parent.key)
}

func (inv *Inventory) newNode(h *hostState, parent *node, key string) *node {
	h.nodes++
	c := &node{parent: parent, key: key}
	if strings.HasPrefix(key, paramPrefix) {
		c.name = paramNameUnder(parent)
	}
	if parent.children == nil {
		parent.children = make(map[string]*node, 4)
	}
	parent.children[key] = c
	return c
}

func (inv *Inventory) paramChild(h *hostState, n *node, key string) *node {
	if c, ok := n.children[key]; ok {
		return c
	}
	if h.nodes >= inv.cfg.MaxNodesPerHost {
		return nil
	}
	return inv.newNode(h, n, key)
}

// addLiteral adds a literal child to n, or, when n must become a parameter
// position (caps or sibling statistics), promotes n and returns the
// parameter child the value now belongs to.
func (inv *Inventory) addLiteral(h *hostState, n *node, seg string) *node {
	if n.nLit >= inv.cfg.MaxLiteralChildren || h.nodes >= inv.cfg.MaxNodesPerHost {
		if !n.promoted {
			inv.stats.ForcedParams++
			inv.promote(h, n, false)
		}
		inv.confirm(h, n) // a cap decided: no going back
		return inv.paramChild(h, n, paramKeyFor(seg))
	}
	// The key outlives the call: seg points into the parser's block
	// (and any body after it).
	c := inv.newNode(h, n, strings.Clone(seg))
	n.nLit++
	if n.hll == nil {
		n.hll = hyperloglog.New14()
	}
	n.hll.Insert([]byte(seg))
	if inv.shouldPromote(n) {
		inv.stats.Promotions++
		inv.promote(h, n, true)
		return n.children[paramKeyFor(seg)]
	}
	return c
}

// Demotion: a position promoted by statistics goes back to literals when
// the values routed into its parameter recur with stable counts — at least
// demoteCallsPerValue calls per distinct value, at most 1/demoteSingles of
// the values seen once, and at least demoteMinCalls × SiblingThreshold
// calls.
// Ids and slugs keep arriving new (a real id position fills vals up to its
// cap and is confirmed); resource names seen early in a capture look new
// once, then repeat.
const (
	demoteCallsPerValue = 2
	demoteSingles       = 8
	demoteMinCalls      = 8
)

// A fixed word split out of a provisional parameter carries at least
// 1/busyShare of the position's calls or busyMean times the mean calls per
// value (an operation of its own), not just a value that recurred a few
// times among thousands.
const (
	busyShare = 20
	busyMean  = 8
)

// noteValue counts a literal value routed into the parameter of provisional
// position n and reports whether it must be a literal after all: n was
// demoted, or seg is a fixed word much busier than the values around it
// (/series/upcoming next to /series/{slug}, learned after the promotion).
func (inv *Inventory) noteValue(h *hostState, n *node, seg string, leaf bool, m uint8) bool {
	held, ok := n.vals[seg]
	if !ok {
		if len(n.vals) >= inv.cfg.MaxLiteralChildren || h.valsHeld >= inv.cfg.MaxNodesPerHost {
			inv.confirm(h, n) // more distinct values than names ever are: data
			return false
		}
		st := &valStat{n: 1}
		st.addLeaf(leaf, m)
		n.vals[strings.Clone(seg)] = st
		h.valsHeld++
		n.valSingles++
		n.valCalls++
		return false
	}
	st := *held // the map keeps the old count until the end (the median below)
	st.n++
	if st.n == 2 {
		n.valSingles--
	}
	n.valCalls++
	d := len(n.vals)
	if n.valCalls >= int64(demoteCallsPerValue*d) && n.valCalls >= int64(demoteMinCalls*inv.cfg.SiblingThreshold) &&
		demoteSingles*n.valSingles <= d {
		inv.demote(h, n)
		_, ok := n.children[seg]
		return ok
	}
	// The median is worth computing only when the count reaches 5 and
	// then at powers of two.
	cnt := st.n
	if cnt >= 5 && (cnt == 5 || cnt&(cnt-1) == 0) && isName(seg) &&
		(int64(cnt)*busyShare >= n.valCalls || int64(cnt)*int64(d) >= busyMean*n.valCalls) {
		counts := make([]int32, 0, d)
		for _, v := range n.vals {
			counts = append(counts, v.n)
		}
		slices.Sort(counts)
		if isBusyWord(seg, int64(cnt), int64(counts[len(counts)/2])) {
			delete(n.vals, seg)
			h.valsHeld--
			n.valCalls -= int64(cnt)
			if !inv.nameChild(h, n, seg) {
				return false
			}
			inv.rehome(h, n, seg, st)
			inv.dropOrphan(h, n, paramKeyFor(seg))
			return true
		}
	}
	st.addLeaf(leaf, m)
	*held = st // not n.vals[seg] = st: that would make the map's key seg, the call's bytes
	return false
}

func (st *valStat) addLeaf(leaf bool, m uint8) {
	switch {
	case !leaf:
	case st.leaf == 0 && st.leafM == 0:
		st.leaf, st.leafM = 1, m
	case st.leafM == m:
		st.leaf++
	default:
		st.leafM = leafMixed
	}
}

// dropOrphan empties parameter child pk of provisional position n when
// every literal value it held has been split out as a name and it never
// held a typed value: it describes no template (/lists/{}.json once
// names.json and overview.json are names).
func (inv *Inventory) dropOrphan(h *hostState, n *node, pk string) {
	p := n.children[pk]
	if p == nil || p.classes&^(1<<segSlug) != 0 || (len(p.eps) == 0 && len(p.children) == 0) {
		return
	}
	for k := range n.vals {
		if paramKeyFor(k) == pk {
			return
		}
	}
	inv.dropSubtree(h, p)
	h.nodes++
	*p = node{parent: n, key: p.key, name: p.name}
	h.gen++
}

// rehome moves to the literal child seg of n (just split out) the endpoint
// of n's parameter that only ever served seg: the calls that ended at seg
// all used one method, and that method's endpoint at the parameter counts
// exactly as many calls (POST /keys/restore, merged while /keys/ was
// provisional, is not left behind as POST /keys/{keyName}).
func (inv *Inventory) rehome(h *hostState, n *node, seg string, st valStat) {
	if st.leaf == 0 || st.leafM == leafMixed {
		return
	}
	p, lit := n.children[paramKeyFor(seg)], n.children[seg]
	if p == nil || lit == nil {
		return
	}
	for i, e := range p.eps {
		if methodCode(e.method) != st.leafM || e.calls != int64(st.leaf) || lit.endpoint(e.method) != nil {
			continue
		}
		p.eps = append(p.eps[:i], p.eps[i+1:]...)
		e.node = lit
		lit.eps = append(lit.eps, e)
		h.gen++
		return
	}
}

// confirm ends the provisional state of position n: it stays a parameter.
func (inv *Inventory) confirm(h *hostState, n *node) {
	if n.vals != nil {
		h.valsHeld -= len(n.vals)
		n.vals = nil
	}
}

// demote splits the values seen at provisional position n out of its
// parameter: each becomes a literal child again (a name; the few seen once
// are mostly names first called late). Parameter
// children that only ever held literal values described templates that do
// not exist: they are emptied and their endpoints dropped (counted in
// Stats.Demotions); the calls that follow rebuild one endpoint per name. A
// parameter child that also holds typed values (integers, UUIDs, ...)
// stays. The position stays a parameter for values never seen before
// (/boards/{id}/{field} beside /boards/{id}/cards), provisionally again.
func (inv *Inventory) demote(h *hostState, n *node) {
	inv.stats.Demotions++
	var names []string
	for k := range n.vals {
		names = append(names, k)
	}
	sort.Strings(names)
	h.valsHeld -= len(n.vals)
	clear(n.vals)
	n.valCalls, n.valSingles = 0, 0
	h.gen++
	for _, k := range slices.Sorted(maps.Keys(n.children)) {
		p := n.children[k]
		if !p.isParam() || p.classes&^(1<<segSlug) != 0 {
			continue
		}
		// Keep the node itself, empty: the next new value needs it, and at
		// the node cap there may be no room for a fresh one.
		inv.dropSubtree(h, p)
		h.nodes++
		*p = node{parent: n, key: p.key, name: p.name}
	}
	for _, k := range names {
		inv.nameChild(h, n, k)
	}
}

// nameChild adds literal child k to promoted position n, room permitting,
// and reports whether n has it.
func (inv *Inventory) nameChild(h *hostState, n *node, k string) bool {
	if _, ok := n.children[k]; ok {
		return true
	}
	if _, ok := n.formatChild(k); ok {
		return true
	}
	if inv.addFormat(h, n, k) != nil {
		return true
	}
	if n.nLit >= inv.cfg.MaxLiteralChildren || h.nodes >= inv.cfg.MaxNodesPerHost {
		inv.stats.ForcedParams++ // the name stays in the parameter
		return false
	}
	inv.newNode(h, n, strings.Clone(k))
	n.nLit++
	return true
}

// dropSubtree releases the nodes and endpoints under n (already unlinked).
func (inv *Inventory) dropSubtree(h *hostState, n *node) {
	h.nodes--
	inv.confirm(h, n)
	for _, e := range n.eps {
		inv.uncount(e)
	}
	n.eps = nil
	for _, c := range n.children {
		inv.dropSubtree(h, c)
	}
	n.children = nil
}

// methodShape is a response shape and the method that answered it.
type methodShape struct {
	m uint8
	s uint64
}

// shouldPromote applies the sibling statistics to position n: enough
// distinct values (HyperLogLog), values that mostly occur once (ids and
// slugs do, resource names do not), and similar response shapes among the
// values that answer themselves.
//
// A position that keeps saying no is asked again only after its literal
// count has grown by a sixteenth: each look walks every child (and
// estimates a 16k-register sketch), so asking at every new value cost
// O(MaxLiteralChildren^2) per position of names that fill up to the cap,
// 9% of a one-core full run on the bench capture (4 such positions).
func (inv *Inventory) shouldPromote(n *node) bool {
	if n.promoted || n.hll == nil || n.parent == nil {
		// The root's children are the API's top level: only caps promote
		// there.
		return false
	}
	if n.nLit < n.nextEval {
		return false
	}
	if inv.siblingsSayParam(n) {
		return true
	}
	n.nextEval = n.nLit + max(1, n.nLit/promoteEvalStep)
	return false
}

// promoteEvalStep: shouldPromote looks again after nLit/promoteEvalStep
// more literals.
const promoteEvalStep = 16

// siblingsSayParam is shouldPromote's test of the statistics.
func (inv *Inventory) siblingsSayParam(n *node) bool {
	th := inv.cfg.SiblingThreshold
	// Word-only values (AB, BC, ON; apple, river) get no higher bar: a
	// promotion that turns out wrong is undone when the names repeat
	// (noteValue), and until then the calls are few.
	minThrough := int64(th + th/2)
	if n.through+1 < minThrough || int(n.hll.Estimate()) < th { // the estimate costs more
		return false
	}
	singles := 0
	// One resource answers one shape per method (GET an item, POST an
	// update, ...): shapes are compared among answers to the same method.
	// The map and the counts are scratch reused from call to call: this
	// runs at every sixteenth new literal at a wide position.
	if inv.shapes == nil {
		inv.shapes = map[methodShape]int{}
	}
	shapes := inv.shapes
	clear(shapes)
	withShape := 0
	// Calls to fixed busy words (/metrics/top next to /metrics/{service})
	// and to an existing parameter child say nothing about whether the
	// other values are data: leave them out of the ratio. One walk of the
	// children map collects the literals (a map walk costs several times a
	// slice walk, and this runs at every sixteenth new value at positions
	// of up to MaxLiteralChildren values).
	valueCalls := n.through + 1
	counts, lits := inv.counts[:0], inv.lits[:0]
	for k, c := range n.children {
		if c.isParam() {
			valueCalls -= c.count
			continue
		}
		counts = append(counts, c.count)
		lits = append(lits, keyedNode{k, c})
	}
	slices.Sort(counts)
	median := int64(0)
	if len(counts) > 0 {
		median = counts[len(counts)/2]
	}
	for _, l := range lits {
		c := l.n
		if isBusyWord(l.key, c.count, median) {
			valueCalls -= c.count
			continue
		}
		if c.count <= 1 {
			singles++
		}
		if c.shape != 0 {
			shapes[methodShape{c.shapeBy, c.shape}]++
			withShape++
		}
	}
	// The ratio below only rises from SiblingMinRatio: short of that, no
	// need to look at continuations and shapes.
	if float64(singles) < inv.cfg.SiblingMinRatio*float64(max(valueCalls, 1)) {
		clear(lits)
		inv.counts, inv.lits = counts, lits[:0]
		return false
	}
	// Values under which the same sub-paths recur (/{user}/feeds,
	// /{user}/dashboards under many users) are instances of one resource,
	// as much as a shared response shape says so: the looser ratio stands.
	shared := inv.sharedContinuations(lits, th)
	clear(lits) // hold no nodes past the call
	inv.counts, inv.lits = counts, lits[:0]
	// Values that answer with one shared shape are items of one resource:
	// a looser ratio is enough. Without shapes, only a position where
	// nearly every call brings a new value is data: early in a capture a
	// handful of resource names also look "new", but they repeat quickly
	// (after T calls over K names the share of names seen once is about
	// e^(-T/K)).
	ratio := inv.cfg.SiblingMinRatio
	if !shared && withShape >= 3 {
		var bestBy [numMethodCodes]int
		for k, v := range shapes {
			bestBy[k.m] = max(bestBy[k.m], v)
		}
		best := 0
		for _, v := range bestBy {
			best += v
		}
		if 2*best < withShape {
			return false
		}
		if 4*best < 3*withShape {
			ratio = max(ratio, strictRatio)
		}
	} else if !shared {
		// Without shapes, only a position where most calls bring a new
		// value is data; early in a capture a list of resource names looks
		// the same, but they repeat, and noteValue demotes the position.
		ratio = max(ratio, strictRatio)
	}
	if float64(singles) < ratio*float64(max(valueCalls, 1)) {
		return false
	}
	return true
}

// sharedContinuations reports whether the literal values lits (all of a
// position's, busy words included) have sub-paths in common: at least th
// values go on to a literal child, and
// those children use at most half as many distinct words as there are such
// values. Resource names each have their own continuations
// (/boards/{id}/members/{id}, /boards/{id}/myPrefs/showSidebar); the values
// of one parameter share theirs.
func (inv *Inventory) sharedContinuations(lits []keyedNode, th int) bool {
	with := 0
	if inv.words == nil {
		inv.words = map[string]struct{}{}
	}
	words := inv.words
	defer clear(words) // hold no node keys past the call
	for _, l := range lits {
		c := l.n
		has := false
		for k, g := range c.children {
			if !g.isParam() {
				words[k] = struct{}{}
				has = true
			}
		}
		if has {
			with++
		}
	}
	return with >= th && 2*len(words) <= with
}

// promote turns position n into a parameter: its literal children merge
// into the parameter child for their extension, except fixed words much
// busier than the values around them (/users/me beside /users/{userId}).
//
// A promotion by statistics (provisional) starts counting the values that
// reach the parameter, so that a later demotion can undo it.
func (inv *Inventory) promote(h *hostState, n *node, provisional bool) {
	if n.promoted {
		return
	}
	n.promoted = true
	n.hll = nil
	n.formats = nil // format children merge into the parameter below
	h.gen++
	var lits []string
	var counts []int64
	seeds := map[string]valStat{}
	for k, c := range n.children {
		if !c.isParam() {
			lits = append(lits, k)
			counts = append(counts, c.count)
			st := valStat{n: int32(min(c.count, 1<<30)), leafM: leafMixed}
			if len(c.children) == 0 && len(c.eps) == 1 && c.eps[0].calls == c.count {
				st.leaf, st.leafM = st.n, methodCode(c.eps[0].method)
			}
			seeds[k] = st
		}
	}
	sort.Strings(lits)
	slices.Sort(counts)
	median := int64(0)
	if len(counts) > 0 {
		median = counts[len(counts)/2]
	}
	for _, k := range lits {
		c := n.children[k]
		if isBusyWord(k, c.count, median) {
			continue
		}
		delete(n.children, k)
		n.nLit--
		pk := paramKeyFor(k)
		p, ok := n.children[pk]
		if !ok {
			// Reuse the literal's node as the parameter node: no new node
			// is needed, so promotion works at the node cap.
			c.key = pk
			c.name = paramNameUnder(n)
			c.classes |= 1 << segSlug
			n.children[pk] = c
			continue
		}
		p.classes |= 1 << segSlug
		inv.merge(h, p, c)
	}
	if provisional {
		n.vals = make(map[string]*valStat, len(lits))
		for _, k := range lits {
			if _, busy := n.children[k]; busy {
				continue
			}
			if h.valsHeld >= inv.cfg.MaxNodesPerHost {
				inv.confirm(h, n)
				break
			}
			st := seeds[k]
			n.vals[k] = &st
			h.valsHeld++
			n.valCalls += int64(st.n)
			if st.n == 1 {
				n.valSingles++
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(n.children)) {
		// A child that took a merge was just examined (merge does); the
		// others are as the gate last left them.
		if c := n.children[k]; c.isParam() && inv.shouldPromote(c) {
			inv.stats.Promotions++
			inv.promote(h, c, true)
		}
	}
}

// merge folds src (already unlinked from its parent) into dst.
func (inv *Inventory) merge(h *hostState, dst, src *node) {
	h.nodes--
	inv.confirm(h, src)
	dst.count += src.count
	dst.through += src.through
	dst.classes |= src.classes
	if dst.shape == 0 {
		dst.shape, dst.shapeBy = src.shape, src.shapeBy
	}
	for _, e := range src.eps {
		if d := dst.endpoint(e.method); d != nil {
			inv.mergeEndpoints(d, e)
		} else {
			e.node = dst
			dst.eps = append(dst.eps, e)
		}
	}
	src.eps = nil
	for _, k := range slices.Sorted(maps.Keys(src.children)) {
		sc := src.children[k]
		if dc, ok := dst.children[k]; ok {
			inv.merge(h, dc, sc)
			continue
		}
		if !sc.isParam() && dst.promoted {
			pk := paramKeyFor(k)
			if pc, ok := dst.children[pk]; ok {
				inv.merge(h, pc, sc)
				continue
			}
			sc.key = pk
			sc.name = paramNameUnder(dst)
		}
		sc.parent = dst
		if dst.children == nil {
			dst.children = map[string]*node{}
		}
		dst.children[sc.key] = sc
		if name, ok := strings.CutSuffix(sc.key, fmtKey); ok {
			if dst.formats == nil {
				dst.formats = map[string]*node{}
			}
			dst.formats[name] = sc
		}
		if !sc.isParam() {
			dst.nLit++
			if dst.hll == nil {
				dst.hll = hyperloglog.New14()
			}
			dst.hll.Insert([]byte(sc.key))
		}
	}
	src.children = nil
	dst.nextEval = 0 // its children just changed: look now
	if inv.shouldPromote(dst) {
		inv.stats.Promotions++
		inv.promote(h, dst, true)
	}
}

// prune removes n and its empty ancestors after an eviction.
func (h *hostState) prune(n *node) {
	for n != nil && n.parent != nil && len(n.eps) == 0 && len(n.children) == 0 {
		p := n.parent
		if n.vals != nil {
			h.valsHeld -= len(n.vals)
			n.vals = nil
		}
		if p.children[n.key] == n {
			delete(p.children, n.key)
			if name, ok := strings.CutSuffix(n.key, fmtKey); ok {
				delete(p.formats, name)
			}
			if !n.isParam() {
				p.nLit--
				// The next look stays a step away, not where the
				// position stood before it lost children.
				p.nextEval = min(p.nextEval, p.nLit+max(1, p.nLit/promoteEvalStep))
			}
			h.nodes--
		}
		n = p
	}
}

// template renders the path of n, naming parameters uniquely.
func (n *node) template() (string, []string) {
	var parts []*node
	for c := n; c.parent != nil; c = c.parent {
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		return "/", nil
	}
	var b strings.Builder
	var names []string
	for i := len(parts) - 1; i >= 0; i-- {
		c := parts[i]
		b.WriteByte('/')
		if !c.isParam() {
			if base, ok := strings.CutSuffix(c.key, fmtKey); ok {
				name := "format"
				for k := 2; slices.Contains(names, name); k++ {
					name = "format" + strconv.Itoa(k)
				}
				names = append(names, name)
				b.WriteString(base + ".{" + name + "}")
				continue
			}
			b.WriteString(c.key)
			continue
		}
		name := c.name
		for k := 2; slices.Contains(names, name); k++ {
			name = c.name + strconv.Itoa(k)
		}
		names = append(names, name)
		b.WriteByte('{')
		b.WriteString(name)
		b.WriteByte('}')
		b.WriteString(c.key[len(paramPrefix):])
	}
	return b.String(), names
}

// keyedNode is a child with its key in the parent's map.
type keyedNode struct {
	key string
	n   *node
}

// isBusyWord is a fixed name much busier than the values beside it: it
// stays literal when its position becomes a parameter. A name is letters,
// possibly joined by '-' or '_' (me, best-sellers), with or without a
// format extension (names.json, names.{format}).
func isBusyWord(k string, count, median int64) bool {
	// The counts first: most values were seen once, and isName scans.
	return count >= 5 && count >= 4*max(median, 1) && isName(k)
}

func isName(k string) bool {
	if base, ok := strings.CutSuffix(k, fmtKey); ok {
		k = base
	} else if base, ext := splitExt(k); isFormat(ext) {
		k = base
	}
	if k == "" || k[0] == '-' || k[0] == '_' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if ch := k[i]; !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

// methodCode is a small code for a request method (shape comparisons).
func methodCode(m string) uint8 {
	switch m {
	case "GET":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "HEAD":
		return 6
	}
	return 0
}

const numMethodCodes = 7
