package discovery

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/apisensor/apisensor/model"
)

// OpenAPI renders the observed inventory as an OpenAPI 3.0 document:
// templated paths with inferred parameter types, query parameters, JSON
// request and per-status response schemas, and the security schemes seen.
// Each operation lists the hosts it was seen on as its servers, so
// re-importing the document with --spec makes every observed endpoint
// documented. Output is indented and deterministic.
func (inv *Inventory) OpenAPI() ([]byte, error) {
	doc := &openapi3.T{
		OpenAPI:    "3.0.3",
		Info:       &openapi3.Info{Title: "apisensor reconstructed API", Version: "observed"},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{SecuritySchemes: openapi3.SecuritySchemes{}},
	}
	type opHosts struct {
		op    *openapi3.Operation
		hosts []string
	}
	ops := map[string]*opHosts{}
	byShape := map[string]string{} // shape → the template text used for it
	var allHosts []string
	for _, name := range slices.Sorted(maps.Keys(inv.hosts)) {
		h := inv.hosts[name]
		used := false
		inv.forEachEndpoint(h, func(e *endpoint) {
			used = true
			tmpl := inv.template(e)
			shape := NormShape(tmpl)
			if t, ok := byShape[shape]; ok {
				tmpl = t
			} else {
				byShape[shape] = tmpl
			}
			key := tmpl + " " + e.method
			if oh := ops[key]; oh != nil {
				oh.hosts = append(oh.hosts, name)
				return
			}
			op := inv.operation(doc, e, tmpl)
			ops[key] = &opHosts{op: op, hosts: []string{name}}
			item := doc.Paths.Value(tmpl)
			if item == nil {
				item = &openapi3.PathItem{}
				doc.Paths.Set(tmpl, item)
			}
			item.SetOperation(e.method, op)
		})
		if used {
			allHosts = append(allHosts, name)
		}
	}
	for _, h := range allHosts {
		doc.Servers = append(doc.Servers, &openapi3.Server{URL: serverURL(h)})
	}
	for _, oh := range ops {
		if len(oh.hosts) == len(allHosts) {
			continue
		}
		servers := openapi3.Servers{}
		for _, h := range oh.hosts {
			servers = append(servers, &openapi3.Server{URL: serverURL(h)})
		}
		oh.op.Servers = &servers
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal reconstructed openapi: %w", err)
	}
	return out, nil
}

func serverURL(host string) string { return "http://" + host }

func (inv *Inventory) operation(doc *openapi3.T, e *endpoint, tmpl string) *openapi3.Operation {
	op := &openapi3.Operation{Responses: openapi3.NewResponses()}
	op.Responses.Delete("default")
	for _, p := range inv.pathParams(e, tmpl) {
		s := &openapi3.Schema{Type: &openapi3.Types{p.typ}, Format: p.format}
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: &openapi3.Parameter{
			Name: p.name, In: openapi3.ParameterInPath, Required: true, Schema: openapi3.NewSchemaRef("", s),
		}})
	}
	for _, q := range e.query.sorted() {
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: &openapi3.Parameter{
			Name: q, In: openapi3.ParameterInQuery, Schema: openapi3.NewSchemaRef("", openapi3.NewStringSchema()),
		}})
	}
	if e.reqSchema != nil {
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithJSONSchema(e.reqSchema.toOpenAPI())}
	} else if cts := e.reqCT.sorted(); len(cts) > 0 {
		content := openapi3.Content{}
		for _, ct := range cts {
			content[ct] = openapi3.NewMediaType()
		}
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithContent(content)}
	}
	statuses := make([]int, 0, len(e.statuses))
	for _, sc := range e.statuses {
		if st := sc.code; st >= 100 && st <= 599 {
			statuses = append(statuses, int(st))
		}
	}
	sort.Ints(statuses)
	for _, st := range statuses {
		desc := "observed " + strconv.Itoa(st)
		r := openapi3.NewResponse().WithDescription(desc)
		if s := e.respSchemas[uint16(st)]; s != nil {
			r = r.WithJSONSchema(s.toOpenAPI())
		}
		op.Responses.Set(strconv.Itoa(st), &openapi3.ResponseRef{Value: r})
	}
	if len(statuses) == 0 {
		op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("no response observed")})
	}
	var reqs openapi3.SecurityRequirements
	add := func(name string, s *openapi3.SecurityScheme) {
		doc.Components.SecuritySchemes[name] = &openapi3.SecuritySchemeRef{Value: s}
		reqs = append(reqs, openapi3.SecurityRequirement{name: []string{}})
	}
	for a := model.AuthBasic; a <= model.AuthOther; a++ {
		if e.authMask&(1<<a) == 0 {
			continue
		}
		switch a {
		case model.AuthBasic:
			add("basicAuth", openapi3.NewSecurityScheme().WithType("http").WithScheme("basic"))
		case model.AuthBearer:
			add("bearerAuth", openapi3.NewSecurityScheme().WithType("http").WithScheme("bearer"))
		case model.AuthBearerJWT:
			add("bearerJWT", openapi3.NewJWTSecurityScheme())
		case model.AuthAPIKey:
			keys := e.apiKeys.sorted()
			if len(keys) == 0 {
				keys = []string{"header:X-API-Key"}
			}
			for _, k := range keys {
				in, name, _ := strings.Cut(k, ":")
				add("apiKey_"+in+"_"+sanitizeName(name), openapi3.NewSecurityScheme().WithType("apiKey").WithIn(in).WithName(name))
			}
		case model.AuthCookie:
			add("cookieAuth", openapi3.NewSecurityScheme().WithType("apiKey").WithIn("cookie").WithName("session"))
		}
	}
	if len(reqs) > 0 {
		if e.authMask&(1<<model.AuthNone) != 0 {
			reqs = append(reqs, openapi3.SecurityRequirement{}) // also answered without credentials
		}
		op.Security = &reqs
	}
	return op
}

func sanitizeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' || ch == '.' {
			b.WriteByte(ch)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
