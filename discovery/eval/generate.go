package eval

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/apisensor/apisensor/discovery"
	"github.com/apisensor/apisensor/model"
)

// Options tune the generator.
type Options struct {
	Seed       int64
	CallsPerOp int
	Host       string
}

// DefaultOptions are the settings the accuracy test uses.
func DefaultOptions() Options { return Options{Seed: 1, CallsPerOp: 20, Host: "api.example.test"} }

// Op is one spec operation with its full template (base path included).
type Op struct {
	Method, Template string
	op               *openapi3.Operation
	item             *openapi3.PathItem
}

// Operations lists the spec's operations, sorted.
func Operations(doc *openapi3.T) []Op {
	base := ""
	if len(doc.Servers) > 0 && doc.Servers[0] != nil {
		base = serverPath(doc.Servers[0])
	}
	var out []Op
	if doc.Paths == nil {
		return nil
	}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		if item == nil {
			continue
		}
		for m, op := range item.Operations() {
			t := discovery.OperationTemplate(base, p)
			out = append(out, Op{Method: strings.ToUpper(m), Template: t, op: op, item: item})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Template != out[j].Template {
			return out[i].Template < out[j].Template
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// serverPath is the server's base path, "" when it has an unresolved
// variable (traffic cannot be generated for it).
func serverPath(s *openapi3.Server) string {
	if _, base := discovery.ServerTarget(s); !strings.Contains(base, "{") {
		return base
	}
	return ""
}

// Generate synthesizes CallsPerOp calls for every operation, interleaved in
// shuffled rounds.
func Generate(doc *openapi3.T, o Options) []*model.Call {
	rng := rand.New(rand.NewSource(o.Seed))
	ops := Operations(doc)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var calls []*model.Call
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	for r := 0; r < o.CallsPerOp; r++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			ts = ts.Add(time.Millisecond)
			calls = append(calls, genCall(rng, ops[i], o.Host, ts))
		}
	}
	return calls
}

func params(op Op) []*openapi3.Parameter {
	var ps []*openapi3.Parameter
	seen := map[string]bool{}
	for _, list := range []openapi3.Parameters{op.op.Parameters, op.item.Parameters} {
		for _, pr := range list {
			if pr == nil || pr.Value == nil || seen[pr.Value.In+pr.Value.Name] {
				continue
			}
			seen[pr.Value.In+pr.Value.Name] = true
			ps = append(ps, pr.Value)
		}
	}
	return ps
}

func genCall(rng *rand.Rand, op Op, host string, ts time.Time) *model.Call {
	ps := params(op)
	path := op.Template
	var q []string
	for _, p := range ps {
		switch p.In {
		case "path":
			v := value(rng, p.Name, schemaOf(p))
			path = strings.ReplaceAll(path, "{"+p.Name+"}", v)
		case "query":
			if p.Required || rng.Intn(3) == 0 {
				q = append(q, p.Name+"="+value(rng, p.Name, schemaOf(p)))
			}
		}
	}
	// Parameters the spec forgot to declare still need a value.
	for strings.Contains(path, "{") {
		i := strings.IndexByte(path, '{')
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			break
		}
		path = path[:i] + value(rng, path[i+1:i+j], nil) + path[i+j+1:]
	}
	c := &model.Call{
		TS: ts, RespTS: ts.Add(time.Duration(2+rng.Intn(40)) * time.Millisecond),
		Src:  netip.MustParseAddrPort(fmt.Sprintf("10.0.%d.%d:40000", rng.Intn(4), 1+rng.Intn(250))),
		Dst:  netip.MustParseAddrPort("10.1.0.1:80"),
		Host: host, Method: op.Method, Path: path, Query: strings.Join(q, "&"),
		Proto: "HTTP/1.1",
	}
	c.URI = path
	if c.Query != "" {
		c.URI += "?" + c.Query
	}
	c.ClientIP = c.Src.Addr()
	c.Status = 200
	var respSchema *openapi3.Schema
	if op.op.Responses != nil {
		codes := op.op.Responses.Map()
		for _, k := range slices.Sorted(maps.Keys(codes)) {
			if len(k) == 3 && k[0] == '2' {
				if n, err := strconv.Atoi(k); err == nil {
					c.Status = uint16(n)
				}
				if r := codes[k]; r != nil && r.Value != nil {
					respSchema = jsonSchema(r.Value.Content)
				}
				break
			}
		}
	}
	if rb := op.op.RequestBody; rb != nil && rb.Value != nil {
		if s := jsonSchema(rb.Value.Content); s != nil {
			b, _ := json.Marshal(sample(rng, s, 0))
			c.ReqBody = model.Body{Data: b, Bytes: int64(len(b)), ContentType: "application/json"}
		}
	}
	if respSchema != nil && c.Status != 204 {
		b, _ := json.Marshal(sample(rng, respSchema, 0))
		c.RespBody = model.Body{Data: b, Bytes: int64(len(b)), ContentType: "application/json"}
		c.RespHeaders = model.Headers{{Name: "Content-Type", Value: "application/json"}}
	}
	return c
}

func schemaOf(p *openapi3.Parameter) *openapi3.Schema {
	if p.Schema != nil {
		return p.Schema.Value
	}
	return nil
}

func jsonSchema(c openapi3.Content) *openapi3.Schema {
	for _, k := range []string{"application/json", "application/hal+json", "application/vnd.api+json", "*/*"} {
		if mt := c.Get(k); mt != nil && mt.Schema != nil {
			return mt.Schema.Value
		}
	}
	return nil
}

var words = strings.Fields(`apple river stone cloud forest garden silver ocean planet rocket
	window mirror paper orange summer winter autumn spring yellow purple marble castle
	dragon falcon tiger panda koala otter badger beaver cobra eagle heron lynx moose
	bright quiet rapid gentle brave clever happy lucky noble proud swift calm bold
	widget gadget sprocket gizmo bolt anchor beacon bridge canyon delta ember fjord
	glacier harbor island jungle lagoon meadow nebula oasis prairie quartz reef summit
	tundra valley willow zephyr alpha bravo charlie echo foxtrot hotel india juliet
	kilo lima mike november oscar papa romeo sierra tango uniform victor whiskey`)

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// value draws a path or query value the way live traffic carries one.
func value(rng *rand.Rand, name string, s *openapi3.Schema) string {
	if s != nil {
		if len(s.Enum) > 0 {
			return fmt.Sprint(s.Enum[rng.Intn(len(s.Enum))])
		}
		switch {
		case s.Type.Is("integer") || s.Type.Is("number"):
			return strconv.Itoa(1 + rng.Intn(999999))
		case s.Type.Is("boolean"):
			return strconv.FormatBool(rng.Intn(2) == 0)
		}
		switch s.Format {
		case "uuid":
			return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.Intn(1<<16), rng.Intn(1<<12), rng.Intn(1<<12), rng.Int63n(1<<48))
		case "date":
			return time.Date(2020+rng.Intn(6), time.Month(1+rng.Intn(12)), 1+rng.Intn(28), 0, 0, 0, 0, time.UTC).Format("2006-01-02")
		case "date-time":
			return time.Date(2020+rng.Intn(6), time.Month(1+rng.Intn(12)), 1+rng.Intn(28), rng.Intn(24), rng.Intn(60), 0, 0, time.UTC).Format(time.RFC3339)
		case "email":
			return words[rng.Intn(len(words))] + strconv.Itoa(rng.Intn(100)) + "@example.com"
		case "int32", "int64":
			return strconv.Itoa(1 + rng.Intn(999999))
		}
	}
	lname := strings.ToLower(name)
	idLike := strings.HasSuffix(lname, "id") || strings.HasSuffix(lname, "key") || strings.HasSuffix(lname, "number") || strings.HasSuffix(lname, "code")
	r := rng.Intn(10)
	switch {
	case idLike && r < 5:
		return strconv.Itoa(1 + rng.Intn(9999999))
	case idLike || r < 3:
		b := make([]byte, 8+rng.Intn(8))
		for i := range b {
			b[i] = alnum[rng.Intn(len(alnum))]
		}
		b[rng.Intn(len(b))] = byte('0' + rng.Intn(10))
		b[rng.Intn(len(b))] = byte('0' + rng.Intn(10))
		return string(b)
	case r < 7:
		return words[rng.Intn(len(words))] + "-" + words[rng.Intn(len(words))]
	default:
		return words[rng.Intn(len(words))]
	}
}

// sample builds a JSON value for schema s.
func sample(rng *rand.Rand, s *openapi3.Schema, depth int) any {
	if s == nil || depth > 3 {
		return nil
	}
	if len(s.AllOf) > 0 {
		m := map[string]any{}
		for _, sub := range s.AllOf {
			if sub != nil {
				if v, ok := sample(rng, sub.Value, depth).(map[string]any); ok {
					maps.Copy(m, v)
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
			if p := s.Properties[k]; p != nil && len(m) < 48 {
				m[k] = sample(rng, p.Value, depth+1)
			}
		}
		return m
	}
	for _, alts := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf} {
		if len(alts) > 0 && alts[0] != nil {
			return sample(rng, alts[0].Value, depth)
		}
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is("object") || len(s.Properties) > 0:
		// At most 24 properties, in name order: big real schemas (Stripe)
		// would otherwise make bodies of megabytes.
		m := map[string]any{}
		keys := slices.Sorted(maps.Keys(s.Properties))
		if len(keys) > 24 {
			keys = keys[:24]
		}
		for _, k := range keys {
			if p := s.Properties[k]; p != nil {
				m[k] = sample(rng, p.Value, depth+1)
			}
		}
		return m
	case s.Type.Is("array"):
		if s.Items == nil {
			return []any{}
		}
		n := 1 + rng.Intn(2)
		a := make([]any, n)
		for i := range a {
			a[i] = sample(rng, s.Items.Value, depth+1)
		}
		return a
	case s.Type.Is("integer"):
		return rng.Intn(100000)
	case s.Type.Is("number"):
		return rng.Float64() * 1000
	case s.Type.Is("boolean"):
		return rng.Intn(2) == 0
	case s.Type.Is("string"):
		return value(rng, "", s)
	}
	return nil
}

// Score is precision, recall and F1 of an inferred (method, shape) set.
type Score struct {
	Ops, Inferred, Matched int
	P, R, F1               float64
	Missed, Extra          []string
}

// Evaluate runs the generated traffic through an inventory with no spec
// and scores it against the spec.
func Evaluate(doc *openapi3.T, o Options) (Score, error) {
	cfg := discovery.DefaultConfig()
	inv, err := discovery.New(cfg, nil)
	if err != nil {
		return Score{}, fmt.Errorf("new inventory: %w", err)
	}
	for _, c := range Generate(doc, o) {
		inv.Observe(c)
	}
	want := map[string]bool{}
	for _, op := range Operations(doc) {
		want[op.Method+" "+discovery.NormShape(op.Template)] = true
	}
	got := map[string]bool{}
	for _, e := range inv.Endpoints() {
		got[e.Method+" "+discovery.NormShape(e.Template)] = true
	}
	s := Score{Ops: len(want), Inferred: len(got)}
	for k := range got {
		if want[k] {
			s.Matched++
		} else {
			s.Extra = append(s.Extra, k)
		}
	}
	for k := range want {
		if !got[k] {
			s.Missed = append(s.Missed, k)
		}
	}
	sort.Strings(s.Extra)
	sort.Strings(s.Missed)
	if s.Inferred > 0 {
		s.P = float64(s.Matched) / float64(s.Inferred)
	}
	if s.Ops > 0 {
		s.R = float64(s.Matched) / float64(s.Ops)
	}
	if s.P+s.R > 0 {
		s.F1 = 2 * s.P * s.R / (s.P + s.R)
	}
	return s, nil
}
