package discovery

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"net/netip"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// JSON type bits of a merged schema.
const (
	tNull uint8 = 1 << iota
	tBool
	tInt
	tNum
	tStr
	tArr
	tObj
)

// schema is a JSON schema merged from sample bodies: the union of the types
// seen, a string format while every sample agrees, capped properties.
type schema struct {
	types    uint8
	format   string
	fmtMixed bool
	strSeen  bool // a string sample was merged (format agreement starts here)
	props    map[string]*schema
	items    *schema
}

type schemaLimits struct{ props, depth int }

// decodeJSON parses a body with numbers kept as json.Number so integers and
// decimals stay apart.
func decodeJSON(b []byte) (any, bool) {
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

func (s *schema) add(v any, lim schemaLimits, depth int) {
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
			s.items.add(x, lim, depth+1)
		}
	case map[string]any:
		s.types |= tObj
		if depth >= lim.depth {
			return
		}
		if s.props == nil {
			s.props = map[string]*schema{}
		}
		for _, k := range sortedKeys(t) {
			p, ok := s.props[k]
			if !ok {
				if len(s.props) >= lim.props {
					continue
				}
				p = &schema{}
				s.props[k] = p
			}
			p.add(t[k], lim, depth+1)
		}
	}
}

func (s *schema) merge(o *schema) {
	if o == nil {
		return
	}
	s.types |= o.types
	if s.format != o.format || o.fmtMixed {
		if s.format == "" && !s.strSeen {
			s.format, s.fmtMixed = o.format, o.fmtMixed
		} else if o.strSeen {
			s.format, s.fmtMixed = "", true
		}
	}
	s.strSeen = s.strSeen || o.strSeen
	if o.items != nil {
		if s.items == nil {
			s.items = &schema{}
		}
		s.items.merge(o.items)
	}
	for k, p := range o.props {
		if s.props == nil {
			s.props = map[string]*schema{}
		}
		if q, ok := s.props[k]; ok {
			q.merge(p)
		} else {
			s.props[k] = p
		}
	}
}

// stringFormat names the OpenAPI format a string value has, if any.
func stringFormat(v string) string {
	switch {
	case len(v) < 3 || len(v) > 256:
		return ""
	case isUUID(v):
		return "uuid"
	case isTimestamp(v):
		if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return "date-time"
		}
	case isDate(v):
		return "date"
	case isEmail(v) && !strings.ContainsAny(v, " <>\"") && strings.Count(v, "@") == 1:
		return "email"
	case strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://"):
		return "uri"
	}
	if a, err := netip.ParseAddr(v); err == nil {
		if a.Is4() {
			return "ipv4"
		}
		return "ipv6"
	}
	return ""
}

// toMap renders the schema as a JSON schema object (for endpoints.json).
func (s *schema) toMap() map[string]any {
	m := map[string]any{}
	typ, nullable := s.typeName()
	if typ != "" {
		m["type"] = typ
	}
	if nullable {
		m["nullable"] = true
	}
	if s.format != "" {
		m["format"] = s.format
	}
	if s.items != nil {
		m["items"] = s.items.toMap()
	}
	if len(s.props) > 0 {
		props := map[string]any{}
		for k, p := range s.props {
			props[k] = p.toMap()
		}
		m["properties"] = props
	}
	return m
}

// typeName is the single OpenAPI 3.0 type for the schema ("" when the
// samples disagree) and whether null was seen.
func (s *schema) typeName() (string, bool) {
	t := s.types &^ tNull
	if t == tInt|tNum {
		t = tNum
	}
	names := map[uint8]string{tBool: "boolean", tInt: "integer", tNum: "number", tStr: "string", tArr: "array", tObj: "object"}
	return names[t], s.types&tNull != 0
}

// toOpenAPI renders the schema for the reconstructed document.
func (s *schema) toOpenAPI() *openapi3.Schema {
	o := &openapi3.Schema{}
	typ, nullable := s.typeName()
	if typ != "" {
		o.Type = &openapi3.Types{typ}
	}
	o.Nullable = nullable
	if typ == "string" {
		o.Format = s.format
	}
	if typ == "array" {
		items := &schema{}
		if s.items != nil {
			items = s.items
		}
		o.Items = openapi3.NewSchemaRef("", items.toOpenAPI())
	}
	if len(s.props) > 0 {
		o.Properties = openapi3.Schemas{}
		for k, p := range s.props {
			o.Properties[k] = openapi3.NewSchemaRef("", p.toOpenAPI())
		}
	}
	return o
}

// shapeHash fingerprints a JSON value by its keys two levels deep (an
// array counts as its first element): two ids of one resource answer with
// the same shape, two resources rarely do, even behind a shared
// {"data": ...} wrapper.
func shapeHash(v any) uint64 {
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
	for _, k := range sortedKeys(m) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		sub := m[k]
		if a, ok := sub.([]any); ok && len(a) > 0 {
			sub = a[0]
		}
		if sm, ok := sub.(map[string]any); ok {
			for _, sk := range sortedKeys(sm) {
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
func topKeys(v any) []string {
	if a, ok := v.([]any); ok && len(a) > 0 {
		v = a[0]
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return sortedKeys(m)
}
