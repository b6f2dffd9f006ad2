package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apisensor/apisensor/model"
	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// wildcardHost keys the operations of specs that name no host: they apply
// to every host.
const wildcardHost = "*"

// LoadSpecFile loads an OpenAPI 3.0/3.1 or Swagger 2.0 document, JSON or
// YAML, resolving $refs (relative files included). Swagger 2.0 is
// converted to OpenAPI 3 with kin-openapi's openapi2conv.
func LoadSpecFile(path string) (*openapi3.T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", path, err)
	}
	doc, err := LoadSpecData(data, path)
	if err != nil {
		return nil, fmt.Errorf("load spec %s: %w", path, err)
	}
	return doc, nil
}

// LoadSpecData is LoadSpecFile for bytes already read; path locates
// relative $refs (may be "").
func LoadSpecData(data []byte, path string) (*openapi3.T, error) {
	var probe struct {
		Swagger string `yaml:"swagger"`
		OpenAPI string `yaml:"openapi"`
	}
	// JSON is read as JSON: yaml rejects control characters JSON strings
	// may legally carry (seen in real specs).
	trimmed := bytes.TrimSpace(data)
	isJSONDoc := len(trimmed) > 0 && trimmed[0] == '{'
	var top map[string]any // the YAML document, parsed once
	if isJSONDoc {
		var jp struct {
			Swagger string `json:"swagger"`
			OpenAPI string `json:"openapi"`
		}
		if err := json.Unmarshal(data, &jp); err != nil {
			return nil, fmt.Errorf("parse json: %w", err)
		}
		probe.Swagger, probe.OpenAPI = jp.Swagger, jp.OpenAPI
	} else {
		// Probe through a generic value first: a file that is YAML but not
		// a mapping (a stray text file, a pcap passed by mistake) gets a
		// message that says so, not a decoder's type error.
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("parse yaml: %w", err)
		}
		var ok bool
		if top, ok = v.(map[string]any); !ok {
			return nil, errors.New("not an OpenAPI or Swagger document: the top level is not a mapping " +
				"(want 'openapi: 3.x' or 'swagger: \"2.0\"' with paths)")
		}
		probe.Swagger, probe.OpenAPI = versionString(top["swagger"]), versionString(top["openapi"])
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	var loc *url.URL
	if path != "" {
		abs, err := filepath.Abs(path)
		if err == nil {
			loc = &url.URL{Path: filepath.ToSlash(abs)}
		}
	}
	switch {
	case strings.HasPrefix(probe.Swagger, "2."):
		js := data
		if !isJSONDoc {
			top["swagger"] = probe.Swagger // an unquoted 2.0 is a number in YAML
			var err error
			if js, err = json.Marshal(jsonable(top)); err != nil {
				return nil, fmt.Errorf("convert swagger 2.0 yaml: %w", err)
			}
		}
		var doc2 openapi2.T
		if err := json.Unmarshal(js, &doc2); err != nil {
			return nil, fmt.Errorf("decode swagger 2.0: %w", err)
		}
		doc, err := openapi2conv.ToV3WithLoader(&doc2, loader, loc)
		if err != nil {
			return nil, fmt.Errorf("convert swagger 2.0: %w", err)
		}
		return doc, nil
	case strings.HasPrefix(probe.OpenAPI, "3."):
		var doc *openapi3.T
		var err error
		if loc != nil {
			doc, err = loader.LoadFromDataWithPath(data, loc)
		} else {
			doc, err = loader.LoadFromData(data)
		}
		if err != nil {
			return nil, fmt.Errorf("decode openapi %s: %w", probe.OpenAPI, err)
		}
		if doc.Paths == nil {
			return nil, errors.New("no paths object")
		}
		return doc, nil
	default:
		return nil, errors.New(`neither "openapi: 3.x" nor "swagger: 2.0" at the top level`)
	}
}

// jsonable turns yaml.v3's map[any]any (integer status keys) into
// map[string]any so the document can be re-encoded as JSON.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	}
	return v
}

// specOp is one documented operation.
type specOp struct {
	file       string
	tmpl       string // base path + path template
	method     string
	deprecated bool
	params     []string // path parameter names in order
	nodeTmpl   string   // template of the spec tree node it lives on (shared by same-shape paths)
}

type specParamEdge struct {
	prefix, suffix string
	next           *specNode
}

type specNode struct {
	lit    map[string]*specNode
	params []*specParamEdge
	ops    map[string]*specOp // method → op, at a path's end
	tmpl   string
}

// hostSpec is the documented surface of one host.
type hostSpec struct {
	root   *specNode
	ops    []*specOp            // sorted by template, method
	shapes map[string][]*specOp // version-free shape → ops (zombie by old version)
}

func newHostSpec() *hostSpec {
	return &hostSpec{root: &specNode{}, shapes: map[string][]*specOp{}}
}

// add files o under its template, and takes the path parameter names
// from it (o.params).
func (hs *hostSpec) add(o *specOp) bool {
	n := hs.root
	for _, seg := range splitPath(o.tmpl, nil) {
		if i := strings.IndexByte(seg, '{'); i >= 0 {
			j := strings.LastIndexByte(seg, '}')
			if j > i {
				o.params = append(o.params, seg[i+1:j])
			} else {
				j = len(seg) - 1
			}
			pre, suf := seg[:i], seg[j+1:]
			var e *specParamEdge
			for _, x := range n.params {
				if x.prefix == pre && x.suffix == suf {
					e = x
					break
				}
			}
			if e == nil {
				e = &specParamEdge{prefix: pre, suffix: suf, next: &specNode{}}
				n.params = append(n.params, e)
				// Longer fixed parts are more specific: try them first.
				sort.SliceStable(n.params, func(a, b int) bool {
					return len(n.params[a].prefix)+len(n.params[a].suffix) > len(n.params[b].prefix)+len(n.params[b].suffix)
				})
			}
			n = e.next
			continue
		}
		if n.lit == nil {
			n.lit = map[string]*specNode{}
		}
		c, ok := n.lit[seg]
		if !ok {
			c = &specNode{}
			n.lit[seg] = c
		}
		n = c
	}
	if n.ops == nil {
		n.ops = map[string]*specOp{}
	}
	if _, dup := n.ops[o.method]; dup {
		return false // first spec wins
	}
	if n.tmpl == "" {
		n.tmpl = o.tmpl
	}
	n.ops[o.method] = o
	o.nodeTmpl = n.tmpl
	hs.ops = append(hs.ops, o)
	shape := versionFreeShape(o.tmpl)
	hs.shapes[shape] = append(hs.shapes[shape], o)
	return true
}

// match finds the documented path for segs, preferring literals.
func (n *specNode) match(segs []string) *specNode {
	if len(segs) == 0 {
		if n.ops != nil {
			return n
		}
		return nil
	}
	if c, ok := n.lit[segs[0]]; ok {
		if m := c.match(segs[1:]); m != nil {
			return m
		}
	}
	for _, e := range n.params {
		s := segs[0]
		if len(s) > len(e.prefix)+len(e.suffix) && strings.HasPrefix(s, e.prefix) && strings.HasSuffix(s, e.suffix) {
			if m := e.next.match(segs[1:]); m != nil {
				return m
			}
		}
	}
	return nil
}

// NormShape turns a template into its comparable shape: every parameter is
// "{}" whatever its name (/users/{userId} and /users/{id} are one shape).
func NormShape(tmpl string) string {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] == '{' {
			j := strings.IndexByte(tmpl[i:], '}')
			if j > 0 {
				b.WriteString("{}")
				i += j
				continue
			}
		}
		b.WriteByte(tmpl[i])
	}
	return b.String()
}

// versionFreeShape is NormShape with version segments replaced by "{v}".
func versionFreeShape(tmpl string) string {
	segs := splitPath(NormShape(tmpl), nil)
	for i, s := range segs {
		if _, ok := versionOf(s, i); ok {
			segs[i] = "{v}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

func firstVersion(tmpl string) (int, bool) {
	for i, s := range splitPath(tmpl, nil) {
		if v, ok := versionOf(s, i); ok {
			return v, true
		}
	}
	return 0, false
}

// serverTarget is a host and base path an operation is served at.
type serverTarget struct{ host, base string }

func serverTargets(servers openapi3.Servers) []serverTarget {
	var out []serverTarget
	for _, s := range servers {
		if s == nil {
			continue
		}
		host, base := ServerTarget(s)
		out = append(out, serverTarget{host: host, base: base})
	}
	return out
}

// ServerTarget is where a server entry's operations answer: its host
// (NormHost form; "" when the URL names none, or only through a variable
// with no default) and its base path ("" or "/a/b"), variables replaced by
// their defaults. Both absolute and protocol-relative (//host/base) URLs
// name a host.
func ServerTarget(s *openapi3.Server) (host, base string) {
	raw := s.URL
	for name, v := range s.Variables {
		if v != nil {
			raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
		}
	}
	base = raw
	rest, abs := "", false
	if i := strings.Index(raw, "://"); i >= 0 {
		rest, abs = raw[i+3:], true
	} else {
		rest, abs = strings.CutPrefix(raw, "//")
	}
	if abs {
		host, base, _ = strings.Cut(rest, "/")
	}
	if strings.Contains(host, "{") {
		host = "" // an unresolved variable names no real host
	}
	base = "/" + strings.Trim(base, "/")
	if base == "/" {
		base = ""
	}
	return model.NormHost(host), base
}

// OperationTemplate is the path template traffic to a spec operation has:
// the path key under the server's base path, without a trailing slash
// and without a fragment. AWS specs key some operations by one
// (/#X-Amz-Target=..., /{Bucket}#tagging); on the wire it is never part of
// the path.
func OperationTemplate(base, path string) string {
	path, _, _ = strings.Cut(path, "#")
	t := base + "/" + strings.TrimLeft(path, "/")
	if t != "/" {
		t = strings.TrimRight(t, "/")
	}
	return t
}

// addSpec registers every operation of doc under the hosts it applies to,
// and returns how many it filed (a second operation with the same method
// and template on a host is not: the first spec wins).
func addSpec(specs map[string]*hostSpec, doc *openapi3.T, in SpecInput) int {
	n := 0
	if doc.Paths == nil {
		return 0
	}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		if item == nil {
			continue
		}
		ops := item.Operations()
		for _, m := range slices.Sorted(maps.Keys(ops)) {
			op := ops[m]
			servers := doc.Servers
			if len(item.Servers) > 0 {
				servers = item.Servers
			}
			if op.Servers != nil && len(*op.Servers) > 0 {
				servers = *op.Servers
			}
			targets := serverTargets(servers)
			if len(targets) == 0 {
				targets = []serverTarget{{}}
			}
			seen := map[serverTarget]bool{}
			for _, t := range targets {
				if in.Host != "" {
					// Normalised here, like server hosts and call hosts:
					// a Config built in code need not do it.
					t.host = model.NormHost(in.Host)
				}
				if t.host == "" {
					t.host = wildcardHost
				}
				if seen[t] {
					continue
				}
				seen[t] = true
				hs := specs[t.host]
				if hs == nil {
					hs = newHostSpec()
					specs[t.host] = hs
				}
				tmpl := OperationTemplate(t.base, p)
				if hs.add(&specOp{file: in.Path, tmpl: tmpl, method: strings.ToUpper(m), deprecated: op.Deprecated}) {
					n++
				}
			}
		}
	}
	return n
}

// finish sorts each host's operations for deterministic output.
func finishSpecs(specs map[string]*hostSpec) {
	for _, hs := range specs {
		sort.Slice(hs.ops, func(i, j int) bool {
			if hs.ops[i].tmpl != hs.ops[j].tmpl {
				return hs.ops[i].tmpl < hs.ops[j].tmpl
			}
			return hs.ops[i].method < hs.ops[j].method
		})
	}
}

// versionString reads a version field that YAML may have typed as a number
// (an unquoted "swagger: 2.0" is the float 2).
func versionString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	case int:
		return strconv.Itoa(x) + ".0"
	}
	return ""
}
