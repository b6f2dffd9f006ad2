package discovery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apisensor/apisensor/model"
	"github.com/getkin/kin-openapi/openapi3"
)

func TestStates(t *testing.T) {
	inv := newInv(t, func(c *Config) {
		c.Specs = []SpecInput{{Path: specPath("shop-openapi3.yaml")}, {Path: specPath("billing-swagger2.json")}}
	})
	const shop, billing = "shop.example.com", "billing.example.com"
	uid := "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	calls := []*model.Call{
		call(0, shop, "GET", "/api/v2/users/"+uid, 200, `{"id":"`+uid+`"}`),
		call(1, shop, "GET", "/api/v2/orders", 200, "[]"),
		call(2, shop, "GET", "/api/v2/orders/5", 200, "{}"),
		call(3, shop, "DELETE", "/api/v2/orders/5", 204, ""),
		call(4, shop+":443", "GET", "/api/v2/legacy-export", 500, ""),
		call(5, shop, "GET", "/api/v1/users/"+uid, 200, "{}"),
		call(6, shop, "GET", "/api/internal/debug", 200, "{}"),
		call(7, shop, "PUT", "/api/v2/orders/5", 200, "{}"),
		call(8, shop, "GET", "/api/v2/reports/q3.pdf", 200, ""),
		call(9, billing, "GET", "/v1/invoices/INV-1", 200, "{}"),
		call(10, "other.test", "GET", "/x", 200, ""),
	}
	for _, c := range calls {
		inv.Observe(c)
	}
	type row struct{ host, method, tmpl string }
	want := map[row]model.EndpointState{
		{shop, "GET", "/api/v2/users/{id}"}:          model.StateDocumented,
		{shop, "GET", "/api/v2/orders"}:              model.StateDocumented,
		{shop, "GET", "/api/v2/orders/{orderId}"}:    model.StateDocumented,
		{shop, "DELETE", "/api/v2/orders/{orderId}"}: model.StateZombie,
		{shop, "GET", "/api/v2/legacy-export"}:       model.StateDocumented, // deprecated but never succeeded
		{shop, "GET", "/api/v1/users/{id}"}:          model.StateZombie,     // older version of /api/v2/users/{id}
		{shop, "GET", "/api/internal/debug"}:         model.StateShadow,
		{shop, "PUT", "/api/v2/orders/{orderId}"}:    model.StateShadow,
		{shop, "GET", "/api/v2/reports/{name}.pdf"}:  model.StateDocumented,
		{shop, "POST", "/api/v2/orders"}:             model.StateUnused,
		{shop, "GET", "/api/v2/health"}:              model.StateUnused,
		{billing, "GET", "/v1/invoices/{invoiceId}"}: model.StateDocumented,
		{billing, "GET", "/v1/invoices"}:             model.StateUnused,
		{"other.test", "GET", "/x"}:                  model.StateObserved,
	}
	got := map[row]model.EndpointState{}
	for _, e := range inv.Endpoints() {
		got[row{e.Host, e.Method, e.Template}] = e.State
	}
	for r, w := range want {
		if g, ok := got[r]; !ok || g != w {
			t.Errorf("%v: state %v (present %v), want %v", r, g, ok, w)
		}
	}
	for r, g := range got {
		if _, ok := want[r]; !ok {
			t.Errorf("unexpected endpoint %v state %v", r, g)
		}
	}
	kinds := map[model.FindingType][]string{}
	for _, f := range inv.Findings() {
		kinds[f.Type] = append(kinds[f.Type], f.Method+" "+f.Template)
	}
	if len(kinds[model.FindingShadowAPI]) != 2 || len(kinds[model.FindingZombieAPI]) != 2 {
		t.Errorf("shadow/zombie findings: %v", kinds)
	}
}

func TestHostlessSpec31AppliesToEveryHost(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.Specs = []SpecInput{{Path: specPath("hostless-openapi31.yaml")}} })
	inv.Observe(call(0, "a.test", "GET", "/status", 200, `{"up":true}`))
	inv.Observe(call(1, "b.test", "GET", "/other", 200, `{}`))
	eps := inv.Endpoints()
	if e := endpointByTemplate(eps, "a.test", "GET", "/status"); e == nil || e.State != model.StateDocumented {
		t.Errorf("a.test /status: %+v", e)
	}
	if e := endpointByTemplate(eps, "b.test", "GET", "/other"); e == nil || e.State != model.StateShadow {
		t.Errorf("b.test /other: %+v", e)
	}
	if e := endpointByTemplate(eps, "b.test", "GET", "/status"); e == nil || e.State != model.StateUnused {
		t.Errorf("b.test /status should be unused: %+v", e)
	}
}

func TestSpecHostOverride(t *testing.T) {
	in, err := ParseSpecArg("internal.test=" + specPath("billing-swagger2.json"))
	if err != nil {
		t.Fatal(err)
	}
	inv := newInv(t, func(c *Config) { c.Specs = []SpecInput{in} })
	c := call(0, "internal.test", "GET", "/v1/invoices", 200, "[]")
	inv.Observe(c)
	if e := endpointByTemplate(inv.Endpoints(), "internal.test", "GET", "/v1/invoices"); e == nil || e.State != model.StateDocumented {
		t.Fatalf("override: %+v", e)
	}
}

func TestParseSpecArg(t *testing.T) {
	cases := []struct {
		in      string
		want    SpecInput
		wantErr bool
	}{
		{"api.yaml", SpecInput{Path: "api.yaml"}, false},
		{"API.Example.com:443=specs/a.json", SpecInput{Host: "api.example.com", Path: "specs/a.json"}, false},
		{"./dir/x=y.yaml", SpecInput{Path: "./dir/x=y.yaml"}, false},
		{"host=", SpecInput{}, true},
		{"", SpecInput{}, true},
	}
	for _, c := range cases {
		got, err := ParseSpecArg(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("ParseSpecArg(%q) = %+v, %v; want %+v, err %v", c.in, got, err, c.want, c.wantErr)
		}
	}
}

func TestNewSpecErrors(t *testing.T) {
	notSpec := filepath.Join(t.TempDir(), "notspec.yaml")
	if err := os.WriteFile(notSpec, []byte("hello: world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{specPath("broken.yaml"), specPath("missing.yaml"), notSpec} {
		_, err := New(Config{Specs: []SpecInput{{Path: f}}, MaxHosts: 1, MaxEndpointsPerHost: 1, MaxEndpoints: 1, MaxNodesPerHost: 16,
			MaxLiteralChildren: 8, SiblingThreshold: 4, SampleEvery: 1, ScanBytes: 1, MaxSetItems: 1, MaxSchemaProps: 1,
			MaxSchemaDepth: 1, MaxFindings: 1, LatencyAccuracy: 0.01, LatencyMaxBins: 64}, nil)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(f)) {
			t.Errorf("%s: error %v should name the file", f, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.SiblingThreshold = 1
	if err := bad.Validate(); err == nil {
		t.Error("SiblingThreshold 1 accepted")
	}
	bad = DefaultConfig()
	bad.MaxHosts = 0
	if err := bad.Validate(); err == nil {
		t.Error("MaxHosts 0 accepted")
	}
}

// A spec file that is not a spec, and a Swagger version YAML typed as a
// number, are told apart with messages a user can act on.
func TestSpecProbe(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadSpecFile(write("text.yaml", "just some text\n")); err == nil || !strings.Contains(err.Error(), "not an OpenAPI or Swagger document") {
		t.Errorf("plain text: %v", err)
	}
	doc, err := LoadSpecFile(write("sw.yaml", "swagger: 2.0\ninfo: {title: t, version: '1'}\nhost: api.example\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n"))
	if err != nil || doc.Paths.Find("/a") == nil {
		t.Errorf("unquoted swagger 2.0: %v", err)
	}
}

// A spec server with a port (http://api.local:8080) applies to the host the
// parser reports for that traffic: Call.Host never carries a port.
func TestSpecServerWithPort(t *testing.T) {
	f := filepath.Join(t.TempDir(), "port.yaml")
	spec := "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://API.local:8080/'}]\n" +
		"paths:\n  /users:\n    get:\n      responses: {'200': {description: ok}}\n"
	if err := os.WriteFile(f, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := newInv(t, func(c *Config) { c.Specs = []SpecInput{{Path: f}} })
	inv.Observe(call(0, "api.local", "GET", "/users", 200, `{}`))
	inv.Observe(call(1, "api.local", "GET", "/other", 200, `{}`))
	eps := inv.Endpoints()
	if e := endpointByTemplate(eps, "api.local", "GET", "/users"); e == nil || e.State != model.StateDocumented {
		t.Errorf("/users: %+v", e)
	}
	if e := endpointByTemplate(eps, "api.local", "GET", "/other"); e == nil || e.State != model.StateShadow {
		t.Errorf("/other: %+v", e)
	}
	for _, e := range eps {
		if e.Host != "api.local" {
			t.Errorf("endpoint on host %q: the spec's host was not normalised like the calls'", e.Host)
		}
	}
	in, err := ParseSpecArg("API.local:8080=" + f)
	if err != nil || in.Host != "api.local" {
		t.Errorf("ParseSpecArg host %q, %v; want api.local", in.Host, err)
	}
	// A Config built in code, with the host as an operator would write it.
	inv = newInv(t, func(c *Config) { c.Specs = []SpecInput{{Host: "API.local:8080", Path: f}} })
	inv.Observe(call(0, "api.local", "GET", "/users", 200, `{}`))
	if e := endpointByTemplate(inv.Endpoints(), "api.local", "GET", "/users"); e == nil || e.State != model.StateDocumented {
		t.Errorf("spec host API.local:8080 in code: /users %+v", e)
	}
}

// AWS specs key operations by a fragment the wire never carries: traffic to
// POST / is that documented operation, not a shadow endpoint beside an
// unused "/#X-Amz-Target=..." one.
func TestSpecPathFragment(t *testing.T) {
	f := filepath.Join(t.TempDir(), "aws.yaml")
	spec := "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://dynamodb.example/'}]\npaths:\n" +
		"  /#X-Amz-Target=DynamoDB_20120810.GetItem:\n    post:\n      responses: {'200': {description: ok}}\n" +
		"  /#X-Amz-Target=DynamoDB_20120810.PutItem:\n    post:\n      responses: {'200': {description: ok}}\n"
	if err := os.WriteFile(f, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	specs := map[string]*hostSpec{}
	doc, err := LoadSpecFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := addSpec(specs, doc, SpecInput{Path: f}); n != 1 {
		t.Errorf("addSpec filed %d operations, want 1: both are POST / (the first wins)", n)
	}
	inv := newInv(t, func(c *Config) { c.Specs = []SpecInput{{Path: f}} })
	inv.Observe(call(0, "dynamodb.example", "POST", "/", 200, `{}`))
	eps := inv.Endpoints()
	if len(eps) != 1 || eps[0].Template != "/" || eps[0].State != model.StateDocumented {
		t.Fatalf("endpoints %+v, want POST / documented and nothing else", eps)
	}
}

// A server entry names a host for absolute and protocol-relative URLs, and
// a base path with variables at their defaults.
func TestServerTarget(t *testing.T) {
	for _, c := range []struct {
		url, host, base string
		vars            map[string]*openapi3.ServerVariable
	}{
		{url: "https://API.example.com/v1/", host: "api.example.com", base: "/v1"},
		{url: "//api.example.com/v1", host: "api.example.com", base: "/v1"},
		{url: "https://api.example.com", host: "api.example.com", base: ""},
		{url: "/v2", host: "", base: "/v2"},
		{url: "https://{region}.example.com/{ver}", host: "eu.example.com", base: "/v3",
			vars: map[string]*openapi3.ServerVariable{"region": {Default: "eu"}, "ver": {Default: "v3"}}},
		{url: "https://{tenant}.example.com/api", host: "", base: "/api"},
	} {
		host, base := ServerTarget(&openapi3.Server{URL: c.url, Variables: c.vars})
		if host != c.host || base != c.base {
			t.Errorf("%s: host %q base %q, want %q %q", c.url, host, base, c.host, c.base)
		}
	}
}
