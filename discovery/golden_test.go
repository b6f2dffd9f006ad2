package discovery

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/apisensor/apisensor/model"
)

var update = flag.Bool("update", false, "rewrite golden files")

// scenario is a small, varied capture: JSON bodies with sensitive data,
// auth schemes good and bad, a CORS mistake, a stack trace, id paths.
func scenario() []*model.Call {
	var out []*model.Call
	add := func(c *model.Call, f func(*model.Call)) {
		if f != nil {
			f(c)
		}
		out = append(out, c)
	}
	jwtNone := func(c *model.Call) {
		c.Auth = model.Auth{Scheme: model.AuthBearerJWT, JWTAlg: "none"}
		c.Principal = model.Principal{Kind: model.PrincipalJWT, ID: "alice"}
	}
	for i := 0; i < 6; i++ {
		add(call(i, "api.shop.test", "GET", fmt.Sprintf("/v1/users/%d", 100+i), 200,
			`{"id":1,"email":"alice@example.com","phone":"+14155550123","created":"2024-01-01T10:00:00Z","ip":"10.1.2.3"}`), nil)
	}
	add(call(10, "api.shop.test", "GET", "/v1/cards/8812", 200, `{"pan":"4111 1111 1111 1111","iban":"DE89370400440532013000","ssn":"123-45-6789"}`), jwtNone)
	add(call(11, "api.shop.test", "GET", "/v1/cards/8813", 200, `{"pan":"4111111111111111"}`), jwtNone)
	add(call(12, "api.shop.test", "POST", "/v1/login", 200, `{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl","password":"hunter2"}`), func(c *model.Call) {
		c.Auth = model.Auth{Scheme: model.AuthBasic}
		c.ReqBody = model.Body{Data: []byte(`{"user":"alice","remember":true}`), ContentType: "application/json"}
	})
	add(call(13, "api.shop.test", "GET", "/v1/search", 200, `{"results":[{"id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301"}]}`), func(c *model.Call) {
		c.Query = "q=shoes&page=2&api_key=REDACTED"
		c.Auth = model.Auth{Scheme: model.AuthAPIKey, APIKeyInQuery: true, APIKeyName: "api_key"}
		c.ReqHeaders = model.Headers{{Name: "Origin", Value: "https://evil.test"}}
		c.RespHeaders = append(c.RespHeaders,
			model.Header{Name: "Access-Control-Allow-Origin", Value: "https://evil.test"},
			model.Header{Name: "Access-Control-Allow-Credentials", Value: "true"},
			model.Header{Name: "Server", Value: "nginx/1.18.0"})
	})
	add(call(14, "api.shop.test", "GET", "/v1/orders/77", 500, `{"error":"Traceback (most recent call last):\n  File \"app.py\""}`), nil)
	add(call(15, "api.shop.test", "GET", "/v1/keys", 200, `{"aws":"AKIAIOSFODNN7EXAMPLE","pem":"-----BEGIN RSA PRIVATE KEY-----"}`), func(c *model.Call) {
		c.Auth = model.Auth{Scheme: model.AuthCookie}
		c.RespHeaders = append(c.RespHeaders, model.Header{Name: "Strict-Transport-Security", Value: "max-age=1"}, model.Header{Name: "X-Content-Type-Options", Value: "nosniff"})
	})
	return out
}

func runScenario(t *testing.T) (eps, finds, oapi []byte) {
	inv := newInv(t, nil)
	for _, c := range scenario() {
		inv.Observe(c)
	}
	var err error
	if eps, err = json.MarshalIndent(inv.Endpoints(), "", "  "); err != nil {
		t.Fatal(err)
	}
	if finds, err = json.MarshalIndent(inv.Findings(), "", "  "); err != nil {
		t.Fatal(err)
	}
	if oapi, err = inv.OpenAPI(); err != nil {
		t.Fatal(err)
	}
	return eps, finds, oapi
}

func TestGolden(t *testing.T) {
	eps, finds, oapi := runScenario(t)
	golden(t, "endpoints.golden.json", eps)
	golden(t, "findings.golden.json", finds)
	golden(t, "openapi.golden.json", oapi)
}

func TestDeterministic(t *testing.T) {
	a1, b1, c1 := runScenario(t)
	a2, b2, c2 := runScenario(t)
	if !bytes.Equal(a1, a2) || !bytes.Equal(b1, b2) || !bytes.Equal(c1, c2) {
		t.Fatal("two runs over the same calls differ")
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./discovery -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (go test ./discovery -update to accept):\n%s", name, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first differing lines with a little context.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	var sb strings.Builder
	for k := max(0, i-3); k < i; k++ {
		fmt.Fprintf(&sb, "  %4d  %s\n", k+1, al[k])
	}
	for k := i; k < min(len(al), i+8); k++ {
		fmt.Fprintf(&sb, "- %4d  %s\n", k+1, al[k])
	}
	for k := i; k < min(len(bl), i+8); k++ {
		fmt.Fprintf(&sb, "+ %4d  %s\n", k+1, bl[k])
	}
	return sb.String()
}

func TestFindings(t *testing.T) {
	inv := newInv(t, nil)
	for _, c := range scenario() {
		inv.Observe(c)
	}
	fs := inv.Findings()
	type key struct{ typ, method, tmpl string }
	byKey := map[key]model.Finding{}
	for _, f := range fs {
		k := key{string(f.Type), f.Method, f.Template}
		if _, dup := byKey[k]; dup {
			t.Errorf("two findings for %v", k)
		}
		byKey[k] = f
		if f.ID == "" || len(f.ID) != 16 || f.OWASP == "" || f.FirstSeen.IsZero() || f.Host == "" || f.Summary == "" {
			t.Errorf("incomplete finding %+v", f)
		}
		for _, v := range f.Evidence {
			for _, secret := range []string{"4111111111111111", "4111 1111 1111 1111", "hunter2", "eyJhbGciOiJIUzI1NiJ9", "AKIAIOSFODNN7EXAMPLE", "123-45-6789", "DE89370400440532013000"} {
				if strings.Contains(v, secret) {
					t.Errorf("finding %s evidence leaks %q: %q", f.Type, secret, v)
				}
			}
		}
	}
	cards := byKey[key{"data_exposure", "GET", "/v1/cards/{cardId}"}]
	if cards.Count != 2 || cards.Evidence["payment_card"] != "************1111" || cards.Severity != model.SeverityHigh {
		t.Errorf("card exposure: %+v", cards)
	}
	if w := byKey[key{"weak_auth", "GET", "/v1/cards/{cardId}"}]; w.Count != 2 || w.Severity != model.SeverityCritical || w.Evidence["jwt_alg_none"] == "" {
		t.Errorf("jwt none: %+v", w)
	}
	if w := byKey[key{"weak_auth", "POST", "/v1/login"}]; w.Evidence["basic_cleartext"] == "" {
		t.Errorf("basic: %+v", w)
	}
	if w := byKey[key{"weak_auth", "GET", "/v1/search"}]; w.Evidence["api_key_in_query"] == "" {
		t.Errorf("api key in query: %+v", w)
	}
	if ic := byKey[key{"insecure_config", "GET", "/v1/search"}]; ic.Evidence["cors_reflects_origin_with_credentials"] == "" || ic.Evidence["version_disclosure"] == "" || ic.Severity != model.SeverityHigh {
		t.Errorf("cors: %+v", ic)
	}
	if ic := byKey[key{"insecure_config", "GET", "/v1/orders/{orderId}"}]; ic.Evidence["stack_trace"] == "" {
		t.Errorf("stack trace: %+v", ic)
	}
	if u := byKey[key{"unauthenticated_access", "GET", "/v1/users/{userId}"}]; u.Count != 6 || u.OWASP != "API2:2023" {
		t.Errorf("unauthenticated: %+v", u)
	}
	if _, ok := byKey[key{"insecure_config", "GET", "/v1/keys"}]; ok {
		t.Error("endpoint with HSTS and nosniff flagged as insecure_config")
	}
	keys := byKey[key{"data_exposure", "GET", "/v1/keys"}]
	if keys.Evidence["cloud_access_key"] == "" || keys.Evidence["private_key"] == "" {
		t.Errorf("keys: %+v", keys)
	}
}

// Observe returns a finding when it is created and then at powers of two,
// not on every call.
func TestFindingUpdatesAreSparse(t *testing.T) {
	inv := newInv(t, nil)
	returned := 0
	for i := 0; i < 100; i++ {
		c := call(i, "h.test", "GET", "/v1/x", 200, "")
		c.Auth = model.Auth{Scheme: model.AuthBasic}
		returned += len(inv.Observe(c))
	}
	fs := inv.Findings()
	if len(fs) != 1 || fs[0].Count != 100 {
		t.Fatalf("findings %+v", fs)
	}
	if returned != 7 { // counts 1,2,4,8,16,32,64
		t.Errorf("returned %d updates, want 7", returned)
	}
}

func TestOpenAPIValidAndReimport(t *testing.T) {
	inv := newInv(t, nil)
	calls := scenario()
	calls = append(calls, call(30, "files.test", "GET", "/reports/8812.pdf", 200, ""), call(31, "files.test", "GET", "/v1/users/9", 200, `{"x":1}`))
	for _, c := range calls {
		inv.Observe(c)
	}
	doc, err := inv.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := LoadSpecData(doc, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Validate(t.Context(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("reconstructed document invalid: %v", err)
	}
	f := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	inv2 := newInv(t, func(c *Config) { c.Specs = []SpecInput{{Path: f}} })
	for _, c := range calls {
		inv2.Observe(c)
	}
	n := 0
	for _, e := range inv2.Endpoints() {
		n++
		if e.State != model.StateDocumented {
			t.Errorf("after re-import %s %s %s is %v", e.Host, e.Method, e.Template, e.State)
		}
	}
	if n != len(inv.Endpoints()) {
		t.Errorf("re-import has %d endpoints, original %d", n, len(inv.Endpoints()))
	}
}
