package discovery

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/fnv"
	"slices"

	"github.com/valyala/fastjson"
)

// jsonParser parses sampled bodies with a reused fastjson.Parser and
// serves object members sorted by name to schema inference, top keys and
// the shape hash (the schema and key caps admit names in that order, and
// the shape hashes it). Its values, keys and strings live in the parser's
// buffer: valid until the next parseBody, so whatever the aggregates keep
// is copied out.
type jsonParser struct {
	p       fastjson.Parser
	sorted  map[*fastjson.Value][2]int32 // object → its members in order[...]
	order   []int32                      // sorted members (indices into members) of the objects sorted so far
	members []member                     // members of the objects sorted so far, in body order
	num     []byte                       // a number's text
}

type member struct {
	pre uint64 // the key's first 8 bytes, big-endian, zero-padded
	key []byte
	v   *fastjson.Value
}

func keyPrefix(k []byte) uint64 {
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// parseBody parses a body as encoding/json's Decoder.Decode did
// (whitespace-trimmed, an object or array at the top, bytes after the
// first value ignored); the root is valid until the next call.
//
// fastjson.Parser checks structure only (it takes 01, 1., NaN and bad
// escapes), so ValidateBytes checks the grammar after it (a quarter of
// the time). Parse, schema and top keys of the 400 B BenchmarkBodySchema body,
// best of 5: 2.99 µs (2.16 µs without ValidateBytes; the hand-written
// parser this replaced: 2.90 µs; encoding/json into an any: 12.9 µs and 79
// allocations); BenchmarkObserveAPICapture 70.8 ms/op, hand-written 73.0.
//
// Where it still differs from encoding/json (FuzzParseBody skips exactly
// these inputs):
//   - invalid UTF-8 in a string or name stays as is (encoding/json:
//     U+FFFD);
//   - a \u escape of a lone or mismatched surrogate stays as written or
//     swallows the next escape (encoding/json: U+FFFD per escape);
//   - a value nested more than fastjson.MaxDepth (300) levels deep, a
//     scalar counting as a level, is an error (encoding/json: 10000).
//
// Duplicate names are handled in sortedMembers (the last wins, as in a
// map).
func (p *jsonParser) parseBody(b []byte) (*fastjson.Value, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, false
	}
	v, err := p.p.ParseBytes(b)
	if err != nil {
		// Parse rejects bytes after the first value; the Decoder never
		// read them.
		n := valueEnd(b)
		if n < 0 || n == len(b) {
			return nil, false
		}
		b = b[:n]
		if v, err = p.p.ParseBytes(b); err != nil {
			return nil, false
		}
	}
	// After Parse, which bounds the nesting Validate recurses into.
	if fastjson.ValidateBytes(b) != nil {
		return nil, false
	}
	clear(p.sorted)
	p.members, p.order = p.members[:0], p.order[:0]
	return v, true
}

// valueEnd is the length of the object or array b starts with, judged by
// its brackets outside strings (exact when it is valid JSON), or -1.
func valueEnd(b []byte) int {
	depth, inStr := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// sortedMembers returns the members of object obj sorted by name, one
// per name (the last, as a map keeps it). Sorted once per object: the
// schema, the top keys and the shape all walk them in this order. Indices
// are sorted, not members, and a key's 8-byte prefix decides most
// comparisons: sorting the members with bytes.Compare took 25% of
// BenchmarkBodySchema, this takes 14% (the prefix alone: 3.27 against
// 3.45 µs).
func (p *jsonParser) sortedMembers(obj *fastjson.Value) []int32 {
	if r, ok := p.sorted[obj]; ok {
		return p.order[r[0]:r[1]]
	}
	start := len(p.order)
	obj.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		p.order = append(p.order, int32(len(p.members)))
		p.members = append(p.members, member{keyPrefix(k), k, v})
	})
	ms := p.order[start:]
	slices.SortStableFunc(ms, func(a, b int32) int {
		x, y := &p.members[a], &p.members[b]
		if x.pre != y.pre {
			return cmp.Compare(x.pre, y.pre)
		}
		return bytes.Compare(x.key, y.key)
	})
	w := 0
	for r := range ms {
		if r+1 < len(ms) && bytes.Equal(p.members[ms[r+1]].key, p.members[ms[r]].key) {
			continue // a later duplicate wins
		}
		ms[w] = ms[r]
		w++
	}
	p.order = p.order[:start+w]
	if p.sorted == nil {
		p.sorted = map[*fastjson.Value][2]int32{}
	}
	p.sorted[obj] = [2]int32{int32(start), int32(start + w)}
	return p.order[start : start+w]
}

// topObj is the object whose keys are a body's top-level keys (an array
// counts as its first element), or nil.
func topObj(v *fastjson.Value) *fastjson.Value {
	if a := v.GetArray(); len(a) > 0 {
		v = a[0]
	}
	if v.Type() != fastjson.TypeObject {
		return nil
	}
	return v
}

// addJSON merges parsed value v into the schema.
func (s *schema) addJSON(p *jsonParser, v *fastjson.Value, lim schemaLimits, depth int) {
	switch v.Type() {
	case fastjson.TypeNull:
		s.types |= tNull
	case fastjson.TypeTrue, fastjson.TypeFalse:
		s.types |= tBool
	case fastjson.TypeNumber:
		p.num = v.MarshalTo(p.num[:0])
		if bytes.ContainsAny(p.num, ".eE") {
			s.types |= tNum
		} else {
			s.types |= tInt
		}
	case fastjson.TypeString:
		s.types |= tStr
		str, _ := v.StringBytes()
		f := bytesFormat(str)
		if !s.fmtMixed {
			if !s.strSeen {
				s.format = f
			} else if f != s.format {
				s.format, s.fmtMixed = "", true
			}
		}
		s.strSeen = true
	case fastjson.TypeArray:
		s.types |= tArr
		if depth >= lim.depth {
			return
		}
		if s.items == nil {
			s.items = &schema{}
		}
		a := v.GetArray()
		for _, c := range a[:min(len(a), 8)] { // the first items carry the shape; the rest cost time
			s.items.addJSON(p, c, lim, depth+1)
		}
	case fastjson.TypeObject:
		s.types |= tObj
		if depth >= lim.depth {
			return
		}
		if s.props == nil {
			s.props = map[string]*schema{}
		}
		for _, i := range p.sortedMembers(v) {
			m := &p.members[i]
			ps, ok := s.props[string(m.key)]
			if !ok {
				if len(s.props) >= lim.props {
					continue
				}
				ps = &schema{}
				s.props[string(m.key)] = ps
			}
			ps.addJSON(p, m.v, lim, depth+1)
		}
	}
}

// bytesFormat is stringFormat for a string in the parser's buffer; it
// copies the string only when stringFormat could name a format for it
// (mayHaveFormat): most values name none, and the copy would be their
// only allocation.
func bytesFormat(b []byte) string {
	if !mayHaveFormat(b) {
		return ""
	}
	return stringFormat(string(b))
}

// mayHaveFormat is false when stringFormat surely returns "": every format
// it names needs the length of a UUID, a '-' where a date has one, or one
// of "@.:%" (emails, URIs, IP addresses). FuzzMayHaveFormat checks.
func mayHaveFormat(b []byte) bool {
	if len(b) < 3 || len(b) > 256 {
		return false
	}
	if len(b) == 36 || len(b) >= 10 && b[4] == '-' {
		return true
	}
	for _, c := range b { // bytes.ContainsAny: 8% of BenchmarkBodySchema
		if c == '@' || c == '.' || c == ':' || c == '%' {
			return true
		}
	}
	return false
}

// shapeHash fingerprints a JSON value by its keys two levels deep (an
// array counts as its first element): two ids of one resource answer with
// the same shape, two resources rarely do, even behind a shared
// {"data": ...} wrapper.
func (p *jsonParser) shapeHash(v *fastjson.Value) uint64 {
	h := fnv.New64a()
	if v.Type() == fastjson.TypeArray {
		a := v.GetArray()
		h.Write([]byte("["))
		if len(a) == 0 {
			return 0
		}
		v = a[0]
	}
	if v.Type() != fastjson.TypeObject {
		return 0
	}
	for _, i := range p.sortedMembers(v) {
		h.Write(p.members[i].key)
		h.Write([]byte{0})
		if sub := topObj(p.members[i].v); sub != nil {
			for _, k := range p.sortedMembers(sub) {
				h.Write(p.members[k].key)
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
