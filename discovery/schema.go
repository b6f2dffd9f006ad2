package discovery

import (
	"maps"
	"net/netip"
	"slices"
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

// merge folds o into s. Properties new to s are added in name order while
// s has fewer than lim.props, the rule addJSON follows: each side is within
// the cap, their union need not be.
func (s *schema) merge(o *schema, lim schemaLimits) {
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
		s.items.merge(o.items, lim)
	}
	for _, k := range slices.Sorted(maps.Keys(o.props)) {
		p := o.props[k]
		if s.props == nil {
			s.props = map[string]*schema{}
		}
		if q, ok := s.props[k]; ok {
			q.merge(p, lim)
		} else if len(s.props) < lim.props {
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
	// ParseAddr fails (and allocates its error) without a '.', ':' or '%'.
	if !strings.ContainsAny(v, ".:%") {
		return ""
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
	name := ""
	switch t {
	case tBool:
		name = "boolean"
	case tInt:
		name = "integer"
	case tNum:
		name = "number"
	case tStr:
		name = "string"
	case tArr:
		name = "array"
	case tObj:
		name = "object"
	}
	return name, s.types&tNull != 0
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
