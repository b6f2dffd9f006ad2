package parser

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/model"
)

func refHMAC8(key, v string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))[:8]
}

func jwt(header, payload string) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(header)) + "." + e([]byte(payload)) + ".c2ln"
}

// allStrings walks a Call and returns every string in it (except the raw
// header names), to prove a secret is nowhere.
func allStrings(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Ptr, reflect.Interface:
		if !v.IsNil() {
			allStrings(v.Elem(), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				allStrings(v.Field(i), out)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			*out = append(*out, string(v.Bytes()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			allStrings(v.Index(i), out)
		}
	}
}

func reqCall(t *testing.T, cfg Config, meta model.ConnMeta, req string) *model.Call {
	t.Helper()
	calls, _ := runAll(t, cfg, meta, []ev{c2s(req)})
	wantN(t, calls, 1)
	return calls[0]
}

func noSecret(t *testing.T, c *model.Call, secrets ...string) {
	t.Helper()
	var ss []string
	allStrings(reflect.ValueOf(c), &ss)
	for _, s := range ss {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("secret %q leaked in %q", sec, s)
			}
		}
	}
}

func TestPrincipalJWT(t *testing.T) {
	exp := int64(1893456000)
	tok := jwt(`{"alg":"RS256","typ":"JWT"}`, `{"sub":"alice","exp":1893456000,"email":"a@x"}`)
	c := reqCall(t, testConfig(), defMeta(), "GET /me HTTP/1.1\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	want(t, "principal", c.Principal.String(), "jwt:alice")
	want(t, "scheme", c.Auth.Scheme, model.AuthBearerJWT)
	want(t, "alg", c.Auth.JWTAlg, "RS256")
	want(t, "has exp", c.Auth.JWTHasExp, true)
	want(t, "exp", c.Auth.JWTExp, time.Unix(exp, 0).UTC())
	want(t, "redacted", c.ReqHeaders.Get("Authorization"), "Bearer [redacted]")
	noSecret(t, c, tok)

	// alg none, no sub: falls back to client_id.
	tok = jwt(`{"alg":"none"}`, `{"client_id":"svc-7"}`)
	c = reqCall(t, testConfig(), defMeta(), "GET / HTTP/1.1\r\nAuthorization: bearer "+tok+"\r\n\r\n")
	want(t, "principal", c.Principal.String(), "jwt:svc-7")
	want(t, "alg none", c.Auth.JWTAlg, "none")
	want(t, "no exp", c.Auth.JWTHasExp, false)

	// JWT without any identity claim: hashed like a key.
	tok = jwt(`{"alg":"HS256"}`, `{"scope":"x"}`)
	c = reqCall(t, testConfig(), defMeta(), "GET / HTTP/1.1\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	want(t, "principal", c.Principal.String(), "apikey:"+refHMAC8("test-key", tok))
	want(t, "scheme", c.Auth.Scheme, model.AuthBearerJWT)
}

func TestPrincipalOpaqueBearer(t *testing.T) {
	c := reqCall(t, testConfig(), defMeta(), "GET / HTTP/1.1\r\nAuthorization: Bearer s3cr3t-token\r\n\r\n")
	want(t, "principal", c.Principal.String(), "apikey:"+refHMAC8("test-key", "s3cr3t-token"))
	want(t, "scheme", c.Auth.Scheme, model.AuthBearer)
	noSecret(t, c, "s3cr3t-token")
}

func TestPrincipalBasicAndDigest(t *testing.T) {
	cred := base64.StdEncoding.EncodeToString([]byte("alice:hunter2pw"))
	c := reqCall(t, testConfig(), defMeta(), "GET / HTTP/1.1\r\nAuthorization: Basic "+cred+"\r\nProxy-Authorization: Basic "+cred+"\r\n\r\n")
	want(t, "principal", c.Principal.String(), "basic:alice")
	want(t, "scheme", c.Auth.Scheme, model.AuthBasic)
	want(t, "proxy redacted", c.ReqHeaders.Get("Proxy-Authorization"), "Basic [redacted]")
	noSecret(t, c, "hunter2pw", cred)

	c = reqCall(t, testConfig(), defMeta(), "GET / HTTP/1.1\r\nAuthorization: Digest username=\"bob\", realm=\"r\", response=\"abcdef0123\"\r\n\r\n")
	want(t, "digest principal", c.Principal.String(), "basic:bob")
	noSecret(t, c, "abcdef0123")
}

func TestPrincipalAPIKeys(t *testing.T) {
	c := reqCall(t, testConfig(), defMeta(), "GET / HTTP/1.1\r\nx-api-key: K-123456\r\n\r\n")
	want(t, "principal", c.Principal.String(), "apikey:"+refHMAC8("test-key", "K-123456"))
	want(t, "scheme", c.Auth.Scheme, model.AuthAPIKey)
	want(t, "name", c.Auth.APIKeyName, "x-api-key")
	want(t, "header redacted", c.ReqHeaders.Get("X-Api-Key"), "[redacted]")
	noSecret(t, c, "K-123456")

	c = reqCall(t, testConfig(), defMeta(), "GET /v1/items?page=2&API_KEY=Q-998877&x=1 HTTP/1.1\r\n\r\n")
	want(t, "principal", c.Principal.String(), "apikey:"+refHMAC8("test-key", "Q-998877"))
	want(t, "in query", c.Auth.APIKeyInQuery, true)
	want(t, "uri redacted", c.URI, "/v1/items?page=2&API_KEY=[redacted]&x=1")
	want(t, "query redacted", c.Query, "page=2&API_KEY=[redacted]&x=1")
	noSecret(t, c, "Q-998877")

	// The query's text also in the path: the query is redacted, the path
	// (not a parameter) is left as sent.
	for _, target := range []string{"/x/api_key=S9?api_key=S9", "http://h/api_key=S9?api_key=S9"} {
		c = reqCall(t, testConfig(), defMeta(), "GET "+target+" HTTP/1.1\r\nHost: h\r\n\r\n")
		want(t, "query redacted", c.Query, "api_key=[redacted]")
		want(t, "uri redacted", c.URI, strings.TrimSuffix(target, "S9")+"[redacted]")
	}

	// A header the parser also redacts for itself (Proxy-Authorization,
	// Cookie) configured as an API-key header: the principal hashes the
	// value as sent, not its redacted form, so two keys are two principals.
	cfg := testConfig()
	cfg.APIKeyHeaders = append(cfg.APIKeyHeaders, "Proxy-Authorization", "Cookie")
	for _, h := range []string{"Proxy-Authorization: Basic ", "Cookie: k="} {
		a := reqCall(t, cfg, defMeta(), "GET / HTTP/1.1\r\n"+h+"YWxpY2U6cHc=\r\n\r\n")
		b := reqCall(t, cfg, defMeta(), "GET / HTTP/1.1\r\n"+h+"Ym9iOnB3\r\n\r\n")
		v := h[strings.IndexByte(h, ':')+2:]
		want(t, h+"principal", a.Principal.String(), "apikey:"+refHMAC8("test-key", v+"YWxpY2U6cHc="))
		if a.Principal == b.Principal {
			t.Fatalf("%s: two keys gave one principal %v", h, a.Principal)
		}
		noSecret(t, a, "YWxpY2U6cHc=")
	}
}

func TestPrincipalSessionCookie(t *testing.T) {
	c := reqCall(t, testConfig(), defMeta(), "GET / HTTP/1.1\r\nCookie: theme=dark; JSESSIONID=ABCDEF999\r\n\r\n")
	want(t, "principal", c.Principal.String(), "session:"+refHMAC8("test-key", "ABCDEF999"))
	want(t, "scheme", c.Auth.Scheme, model.AuthCookie)
	want(t, "cookie redacted", c.ReqHeaders.Get("Cookie"), "[redacted]")
	noSecret(t, c, "ABCDEF999")
	calls, _ := runAll(t, testConfig(), defMeta(), []ev{
		c2s("GET / HTTP/1.1\r\n\r\n"),
		s2c("HTTP/1.1 200 OK\r\nSet-Cookie: sid=NEWSESSION42; Path=/; HttpOnly\r\nContent-Length: 0\r\n\r\n"),
	})
	want(t, "set-cookie", calls[0].RespHeaders.Get("Set-Cookie"), "sid=[redacted]; Path=/; HttpOnly")
	noSecret(t, calls[0], "NEWSESSION42")
}

func TestPrincipalIPAndXFF(t *testing.T) {
	cfg := testConfig()
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	req := "GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.9.9.9\r\n\r\n"
	c := reqCall(t, cfg, defMeta(), req)
	want(t, "client ip (trusted peer)", c.ClientIP, netip.MustParseAddr("203.0.113.7"))
	want(t, "principal", c.Principal.String(), "ip:203.0.113.7")
	want(t, "src unchanged", c.Src, cliAddr)

	// An IPv4-mapped address is the IPv4 client, however it is written.
	for _, xff := range []string{"1.2.3.4", "[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]", "::ffff:1.2.3.4"} {
		c := reqCall(t, cfg, defMeta(), "GET / HTTP/1.1\r\nX-Forwarded-For: "+xff+"\r\n\r\n")
		want(t, "mapped client "+xff, c.ClientIP, netip.MustParseAddr("1.2.3.4"))
	}

	untrusted := model.ConnMeta{Client: netip.MustParseAddrPort("192.0.2.5:5555"), Server: srvAddr}
	c = reqCall(t, cfg, untrusted, req)
	want(t, "xff ignored", c.ClientIP, netip.MustParseAddr("192.0.2.5"))
	want(t, "principal", c.Principal.String(), "ip:192.0.2.5")
	want(t, "scheme none", c.Auth.Scheme, model.AuthNone)
}
