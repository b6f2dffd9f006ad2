package discovery

import (
	"bytes"
	"hash/fnv"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth is encoding/json's nesting limit: deeper input is an error
// there, so it is one here.
const maxJSONDepth = 10000

// JSON value kinds of a jval.
const (
	jNull uint8 = iota
	jBool
	jNum
	jStr
	jArr
	jObj
)

// jval is one value of a parsed body. Containers link their children
// (first, next); object members carry their name in key. Strings point
// into the body's one string copy or an unquoted copy: nothing aliases the
// call's bytes.
type jval struct {
	kind        uint8
	s           string // string value, or number text
	key         string // member name, for members of an object
	first, last int32  // children (-1: none)
	next        int32  // next sibling (-1: none)
	n           int32  // number of children
	ms, me      int32  // members sorted by name: p.order[ms:me] (ms < 0: not yet)
}

// jsonParser parses the first JSON value of a body into a reusable arena
// of jvals. It accepts exactly the inputs encoding/json's Decoder.Decode
// accepts (bytes after the first value are not read) and describes the
// same tree (jvalAny rebuilds it; the tests and FuzzParseBody compare).
// Hand-written: parse, schema and top keys of a 400 B body take 4.0 µs and
// 2 allocations, against 12.9 µs and 79 allocations through encoding/json
// into an `any` (BenchmarkBodySchema vs BenchmarkBodySchemaStd, best of 5).
type jsonParser struct {
	b     []byte
	src   string // b as a string: values without escapes are substrings
	i     int
	depth int
	vals  []jval
	buf   []byte  // scratch for strings with escapes
	order []int32 // sorted members of the objects sorted so far
}

// parse parses b (whitespace-trimmed, starting with '{' or '[') and
// returns the root's index.
func (p *jsonParser) parse(b []byte) (int32, bool) {
	p.b, p.src, p.i, p.depth = b, string(b), 0, 0
	clear(p.vals) // drop the previous body's strings
	p.vals = p.vals[:0]
	p.order = p.order[:0]
	return p.value()
}

func (p *jsonParser) add(kind uint8, s string) int32 {
	p.vals = append(p.vals, jval{kind: kind, s: s, first: -1, last: -1, next: -1, ms: -1})
	return int32(len(p.vals) - 1)
}

func (p *jsonParser) link(parent, child int32) {
	pv := &p.vals[parent]
	if pv.last < 0 {
		pv.first = child
	} else {
		p.vals[pv.last].next = child
	}
	pv.last = child
	pv.n++
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value parses one value at p.i (whitespace already skipped).
func (p *jsonParser) value() (int32, bool) {
	if p.i >= len(p.b) {
		return -1, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, ok := p.str()
		return p.add(jStr, s), ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.add(jBool, "true"), p.lit("true")
	case c == 'f':
		return p.add(jBool, "false"), p.lit("false")
	case c == 'n':
		return p.add(jNull, ""), p.lit("null")
	}
	return -1, false
}

func (p *jsonParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

func (p *jsonParser) object() (int32, bool) {
	p.depth++
	if p.depth > maxJSONDepth {
		return -1, false
	}
	p.i++ // '{'
	m := p.add(jObj, "")
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		p.depth--
		return m, true
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return -1, false
		}
		k, ok := p.str()
		if !ok {
			return -1, false
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return -1, false
		}
		p.i++
		p.ws()
		v, ok := p.value()
		if !ok {
			return -1, false
		}
		p.vals[v].key = k
		p.link(m, v)
		p.ws()
		if p.i >= len(p.b) {
			return -1, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.ws()
		case '}':
			p.i++
			p.depth--
			return m, true
		default:
			return -1, false
		}
	}
}

func (p *jsonParser) array() (int32, bool) {
	p.depth++
	if p.depth > maxJSONDepth {
		return -1, false
	}
	p.i++ // '['
	a := p.add(jArr, "")
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.depth--
		return a, true
	}
	for {
		v, ok := p.value()
		if !ok {
			return -1, false
		}
		p.link(a, v)
		p.ws()
		if p.i >= len(p.b) {
			return -1, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.ws()
		case ']':
			p.i++
			p.depth--
			return a, true
		default:
			return -1, false
		}
	}
}

// number checks the JSON number grammar and keeps the literal text.
func (p *jsonParser) number() (int32, bool) {
	b, start := p.b, p.i
	i := p.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	p.i = i
	return p.add(jNum, p.src[start:i]), true
}

// str parses a string at p.i ('"'), unquoting as encoding/json does:
// invalid UTF-8 and unpaired surrogates become U+FFFD.
func (p *jsonParser) str() (string, bool) {
	b := p.b
	start := p.i + 1
	i := start
	simple := true
	for {
		if i >= len(b) {
			return "", false
		}
		c := b[i]
		if c == '"' {
			break
		}
		if c < ' ' {
			return "", false
		}
		if c == '\\' {
			simple = false
			i++
			if i >= len(b) {
				return "", false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || hex4(b[i+1:i+5]) < 0 {
					return "", false
				}
				i += 4
			default:
				return "", false
			}
		} else if c >= utf8.RuneSelf {
			simple = false
		}
		i++
	}
	p.i = i + 1
	s := b[start:i]
	if simple || (!hasBackslash(s) && utf8.Valid(s)) {
		return p.src[start:i], true
	}
	return p.unquote(s), true
}

func hasBackslash(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

// unquote decodes a syntactically checked string body with escapes or
// non-ASCII bytes (encoding/json's unquoteBytes).
func (p *jsonParser) unquote(s []byte) string {
	out := p.buf[:0]
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case '"', '\\', '/', '\'':
				out = append(out, s[r+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				rr := rune(hex4(s[r+2 : r+6]))
				r += 6
				if utf16.IsSurrogate(rr) {
					if len(s)-r >= 6 && s[r] == '\\' && s[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, rune(hex4(s[r+2:r+6]))); dec != utf8.RuneError {
							r += 6
							out = utf8.AppendRune(out, dec)
							continue
						}
					}
					rr = utf8.RuneError
				}
				out = utf8.AppendRune(out, rr)
				continue
			}
			r += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			out = utf8.AppendRune(out, rr)
		}
	}
	p.buf = out
	return string(out)
}

// hex4 decodes 4 hex digits, or -1.
func hex4(b []byte) int {
	v := 0
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		v = v<<4 | int(c)
	}
	return v
}

// parseBody parses a body as decodeJSON did (whitespace-trimmed, an object
// or array at the top) into inv's arena; the root is valid until the next
// call.
func (p *jsonParser) parseBody(b []byte) (int32, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return -1, false
	}
	return p.parse(b)
}

// members returns the members of object obj sorted by name, one per name
// (the last, as a map keeps it). Sorted once per object: the schema, the
// top keys and the shape all walk them in this order.
func (p *jsonParser) members(obj int32) []int32 {
	if jv := &p.vals[obj]; jv.ms >= 0 {
		return p.order[jv.ms:jv.me]
	}
	start := len(p.order)
	for c := p.vals[obj].first; c >= 0; c = p.vals[c].next {
		p.order = append(p.order, c)
	}
	ks := p.order[start:]
	slices.SortStableFunc(ks, func(a, b int32) int { return strings.Compare(p.vals[a].key, p.vals[b].key) })
	w := 0
	for r := range ks {
		if r+1 < len(ks) && p.vals[ks[r+1]].key == p.vals[ks[r]].key {
			continue // a later duplicate wins
		}
		ks[w] = ks[r]
		w++
	}
	p.order = p.order[:start+w]
	p.vals[obj].ms, p.vals[obj].me = int32(start), int32(start+w)
	return p.order[start : start+w]
}

// topObj is the object whose keys are a body's top-level keys (an array
// counts as its first element), or -1.
func (p *jsonParser) topObj(v int32) int32 {
	if p.vals[v].kind == jArr && p.vals[v].n > 0 {
		v = p.vals[v].first
	}
	if p.vals[v].kind != jObj {
		return -1
	}
	return v
}

// addJSON merges parsed value v into the schema.
func (s *schema) addJSON(p *jsonParser, v int32, lim schemaLimits, depth int) {
	jv := &p.vals[v] // p.vals does not grow while a schema is added
	switch jv.kind {
	case jNull:
		s.types |= tNull
	case jBool:
		s.types |= tBool
	case jNum:
		if strings.ContainsAny(jv.s, ".eE") {
			s.types |= tNum
		} else {
			s.types |= tInt
		}
	case jStr:
		s.types |= tStr
		f := stringFormat(jv.s)
		if !s.fmtMixed {
			if !s.strSeen {
				s.format = f
			} else if f != s.format {
				s.format, s.fmtMixed = "", true
			}
		}
		s.strSeen = true
	case jArr:
		s.types |= tArr
		if depth >= lim.depth {
			return
		}
		if s.items == nil {
			s.items = &schema{}
		}
		i := 0
		for c := jv.first; c >= 0 && i < 8; c = p.vals[c].next { // the first items carry the shape; the rest cost time
			s.items.addJSON(p, c, lim, depth+1)
			i++
		}
	case jObj:
		s.types |= tObj
		if depth >= lim.depth {
			return
		}
		if s.props == nil {
			s.props = map[string]*schema{}
		}
		for _, c := range p.members(v) {
			k := p.vals[c].key
			ps, ok := s.props[k]
			if !ok {
				if len(s.props) >= lim.props {
					continue
				}
				ps = &schema{}
				s.props[strings.Clone(k)] = ps // k may share the body's string
			}
			ps.addJSON(p, c, lim, depth+1)
		}
	}
}

// shapeHash fingerprints a JSON value by its keys two levels deep (an
// array counts as its first element): two ids of one resource answer with
// the same shape, two resources rarely do, even behind a shared
// {"data": ...} wrapper.
func (p *jsonParser) shapeHash(v int32) uint64 {
	h := fnv.New64a()
	if p.vals[v].kind == jArr {
		h.Write([]byte("["))
		if p.vals[v].n == 0 {
			return 0
		}
		v = p.vals[v].first
	}
	if p.vals[v].kind != jObj {
		return 0
	}
	for _, c := range p.members(v) {
		h.Write([]byte(p.vals[c].key))
		h.Write([]byte{0})
		sub := c
		if p.vals[sub].kind == jArr && p.vals[sub].n > 0 {
			sub = p.vals[sub].first
		}
		if p.vals[sub].kind == jObj {
			for _, k := range p.members(sub) {
				h.Write([]byte(p.vals[k].key))
				h.Write([]byte{1})
			}
		}
	}
	x := h.Sum64()
	if x == 0 {
		x = 1
	}
	return x
}
