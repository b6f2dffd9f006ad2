package discovery

// The encoding/json-based versions the parser replaced: the reference it is
// tested against.

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/valyala/fastjson"
)

// decodeJSONStd is decodeJSON with encoding/json, the reference the parser
// is tested against.
func decodeJSONStd(b []byte) (any, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

func (s *schema) addAny(v any, lim schemaLimits, depth int) {
	switch t := v.(type) {
	case nil:
		s.types |= tNull
	case bool:
		s.types |= tBool
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			s.types |= tNum
		} else {
			s.types |= tInt
		}
	case string:
		s.types |= tStr
		f := stringFormat(t)
		if !s.fmtMixed {
			if !s.strSeen {
				s.format = f
			} else if f != s.format {
				s.format, s.fmtMixed = "", true
			}
		}
		s.strSeen = true
	case []any:
		s.types |= tArr
		if depth >= lim.depth {
			return
		}
		if s.items == nil {
			s.items = &schema{}
		}
		for i, x := range t {
			if i >= 8 { // the first items carry the shape; the rest cost time
				break
			}
			s.items.addAny(x, lim, depth+1)
		}
	case map[string]any:
		s.types |= tObj
		if depth >= lim.depth {
			return
		}
		if s.props == nil {
			s.props = map[string]*schema{}
		}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			p, ok := s.props[k]
			if !ok {
				if len(s.props) >= lim.props {
					continue
				}
				p = &schema{}
				s.props[k] = p
			}
			p.addAny(t[k], lim, depth+1)
		}
	}
}

// shapeHash fingerprints a JSON value by its keys two levels deep (an
// array counts as its first element): two ids of one resource answer with
// the same shape, two resources rarely do, even behind a shared
// {"data": ...} wrapper.
func shapeHashAny(v any) uint64 {
	h := fnv.New64a()
	if a, ok := v.([]any); ok {
		h.Write([]byte("["))
		if len(a) == 0 {
			return 0
		}
		v = a[0]
	}
	m, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		sub := m[k]
		if a, ok := sub.([]any); ok && len(a) > 0 {
			sub = a[0]
		}
		if sm, ok := sub.(map[string]any); ok {
			for _, sk := range slices.Sorted(maps.Keys(sm)) {
				h.Write([]byte(sk))
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

// topKeys lists the top-level object keys of a JSON value.
func topKeysAny(v any) []string {
	if a, ok := v.([]any); ok && len(a) > 0 {
		v = a[0]
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// jvalAny rebuilds the tree encoding/json would have decoded (tests).
func (p *jsonParser) jvalAny(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	case fastjson.TypeNumber:
		return json.Number(v.MarshalTo(nil))
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeArray:
		a := make([]any, 0)
		for _, c := range v.GetArray() {
			a = append(a, p.jvalAny(c))
		}
		return a
	case fastjson.TypeObject:
		m := make(map[string]any)
		v.GetObject().Visit(func(k []byte, c *fastjson.Value) { m[string(k)] = p.jvalAny(c) })
		return m
	}
	return nil
}
