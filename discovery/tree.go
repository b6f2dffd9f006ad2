package discovery

import (
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
	hll      *hyperloglog.Sketch // distinct literal values seen here; dropped once promoted
	count    int64               // real calls that reached this node
	through  int64               // real calls that went on to a child
	promoted bool                // unknown literals here are parameter values
	eps      []*endpoint
	shape    uint64 // response shape of the first successful JSON answer of an endpoint here
	classes  uint16 // segment classes seen at a parameter position
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
		key, cls := segKey(seg, i)
		if cls == segLiteral {
			if !n.promoted {
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
func (inv *Inventory) insert(h *hostState, segs []string) *node {
	n := h.root
	n.count++
	for i, seg := range segs {
		c, ok := n.children[seg]
		if !ok {
			key, cls := segKey(seg, i)
			if cls == segLiteral && n.promoted {
				key = paramKeyFor(seg)
				cls = segSlug
			}
			if cls == segLiteral {
				c = inv.addLiteral(h, n, seg)
				if c == nil {
					return nil
				}
				if c.isParam() { // the position was promoted while adding
					cls = segSlug
				}
			} else {
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

func (inv *Inventory) newNode(h *hostState, parent *node, key string) *node {
	h.nodes++
	c := &node{parent: parent, key: key}
	if strings.HasPrefix(key, paramPrefix) {
		prev := ""
		if parent != nil && !parent.isParam() {
			prev = parent.key
		}
		c.name = paramName(prev)
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
		inv.stats.ForcedParams++
		inv.promote(h, n)
		return inv.paramChild(h, n, paramKeyFor(seg))
	}
	c := inv.newNode(h, n, seg)
	n.nLit++
	if n.hll == nil {
		n.hll = hyperloglog.New14()
	}
	n.hll.Insert([]byte(seg))
	if inv.shouldPromote(n) {
		inv.stats.Promotions++
		inv.promote(h, n)
		return n.children[paramKeyFor(seg)]
	}
	return c
}

// shouldPromote applies the sibling statistics to position n: enough
// distinct values (HyperLogLog), values that mostly occur once (ids and
// slugs do, resource names do not), and similar response shapes among the
// values that answer themselves.
func (inv *Inventory) shouldPromote(n *node) bool {
	if n.promoted || n.hll == nil || n.parent == nil {
		return false // the root's children are the API's top level: only caps promote there
	}
	distinct := int(n.hll.Estimate())
	th := inv.cfg.SiblingThreshold
	allWords := true
	for k, c := range n.children {
		if !c.isParam() && !isWord(k) {
			allWords = false
			break
		}
	}
	if allWords {
		th *= 2 // dictionary words stay literal unless the data insists
	}
	minThrough := int64(2 * th)
	if distinct < th || n.through+1 < minThrough {
		return false
	}
	singles := 0
	shapes := map[uint64]int{}
	withShape := 0
	counts := make([]int64, 0, n.nLit)
	for _, c := range n.children {
		if !c.isParam() {
			counts = append(counts, c.count)
		}
	}
	slices.Sort(counts)
	median := int64(0)
	if len(counts) > 0 {
		median = counts[len(counts)/2]
	}
	// Calls to fixed busy words (/metrics/top next to /metrics/{service})
	// and to an existing parameter child say nothing about whether the
	// other values are data: leave them out of the ratio.
	valueCalls := n.through + 1
	for k, c := range n.children {
		if c.isParam() || isBusyWord(k, c.count, median) {
			valueCalls -= c.count
			continue
		}
		if c.count <= 1 {
			singles++
		}
		if c.shape != 0 {
			shapes[c.shape]++
			withShape++
		}
	}
	// Values that answer with one shared shape are items of one resource:
	// a looser ratio is enough. Without shapes, only a position where
	// nearly every call brings a new value is data: early in a capture a
	// handful of resource names also look "new", but they repeat quickly
	// (after T calls over K names the share of names seen once is about
	// e^(-T/K)).
	ratio := inv.cfg.SiblingMinRatio
	if withShape >= 3 {
		best := 0
		for _, v := range shapes {
			best = max(best, v)
		}
		if 2*best < withShape {
			return false
		}
		if 4*best < 3*withShape {
			ratio = max(ratio, strictRatio)
		}
	} else {
		// No shape evidence: the position may be a list of resource names
		// seen early in a capture. Wait for more calls and more values.
		ratio = max(ratio, strictRatio)
		if distinct < 2*th || n.through+1 < int64(4*th) {
			return false
		}
	}
	if float64(singles) < ratio*float64(max(valueCalls, 1)) {
		return false
	}
	return true
}

// promote turns position n into a parameter: its literal children merge
// into the parameter child for their extension, except fixed words much
// busier than the values around them (/users/me beside /users/{userId}).
func (inv *Inventory) promote(h *hostState, n *node) {
	if n.promoted {
		return
	}
	n.promoted = true
	n.hll = nil
	h.gen++
	var lits []string
	var counts []int64
	for k, c := range n.children {
		if !c.isParam() {
			lits = append(lits, k)
			counts = append(counts, c.count)
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
			c.name = paramName(n.key)
			if n.isParam() || n.parent == nil {
				c.name = "id"
			}
			c.classes |= 1 << segSlug
			n.children[pk] = c
			continue
		}
		p.classes |= 1 << segSlug
		inv.merge(h, p, c)
	}
	for _, k := range sortedKeys(n.children) {
		if c := n.children[k]; c.isParam() && inv.shouldPromote(c) {
			inv.stats.Promotions++
			inv.promote(h, c)
		}
	}
}

// merge folds src (already unlinked from its parent) into dst.
func (inv *Inventory) merge(h *hostState, dst, src *node) {
	h.nodes--
	dst.count += src.count
	dst.through += src.through
	dst.classes |= src.classes
	if dst.shape == 0 {
		dst.shape = src.shape
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
	for _, k := range sortedKeys(src.children) {
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
			sc.name = paramName(dst.key)
		}
		sc.parent = dst
		if dst.children == nil {
			dst.children = map[string]*node{}
		}
		dst.children[sc.key] = sc
		if !sc.isParam() {
			dst.nLit++
			if dst.hll == nil {
				dst.hll = hyperloglog.New14()
			}
			dst.hll.Insert([]byte(sc.key))
		}
	}
	src.children = nil
	if !dst.promoted && inv.shouldPromote(dst) {
		inv.stats.Promotions++
		inv.promote(h, dst)
	}
}

// prune removes n and its empty ancestors after an eviction.
func (h *hostState) prune(n *node) {
	for n != nil && n.parent != nil && len(n.eps) == 0 && len(n.children) == 0 {
		p := n.parent
		if p.children[n.key] == n {
			delete(p.children, n.key)
			if !n.isParam() {
				p.nLit--
			}
			h.nodes--
		}
		n = p
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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

// isBusyWord is a fixed word much busier than the values beside it: it stays
// literal when its position becomes a parameter.
func isBusyWord(k string, count, median int64) bool {
	return isWord(k) && count >= 5 && count >= 4*max(median, 1)
}
