package parser

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/apisensor/apisensor/model"
)

// Principal extraction, in priority order (the first that yields an
// identity wins; Auth describes the credential that won):
//
//  1. Authorization: Bearer <JWT> → "jwt:<id>", id = the first present of
//     sub, client_id, azp, email, preferred_username, upn, oid (decoded,
//     never verified; alg "none" is recorded in Auth.JWTAlg for detectors).
//     A JWT with none of them → "apikey:<hmac8(token)>".
//     Opaque bearer tokens are secrets like API keys → "apikey:<hmac8>".
//  2. Authorization: Basic → "basic:<username>" (password never kept).
//     Digest → "basic:<username>" from its username parameter (also a user
//     name, not a secret). Other schemes → "apikey:<hmac8(credentials)>".
//  3. An APIKeyHeaders header → "apikey:<hmac8>".
//  4. An APIKeyParams query parameter → "apikey:<hmac8>", Auth.APIKeyInQuery.
//  5. A SessionCookies cookie → "session:<hmac8>".
//  6. "ip:<ClientIP>".
//
// hmac8 is the first 8 hex characters of HMAC-SHA256(Config.HMACKey, value):
// stable per deployment, useless to anyone without the key.
//
// Secrets never leave through Call fields: stored Authorization and
// Proxy-Authorization keep only the scheme ("Bearer [redacted]"), Cookie and
// API-key headers read "[redacted]", Set-Cookie keeps the cookie name and
// attributes, and an API-key query parameter's value is replaced by
// "[redacted]" in both URI and Query.

const maxPrincipalID = 256

func (c *Conn) principal(call *model.Call, mi *msgInfo) {
	if mi.xff {
		call.ClientIP = c.p.clientFromXFF(call.Src.Addr(), call.ReqHeaders)
	}
	qName, qVal := c.redactQuery(call)
	a := &call.Auth
	if mi.auth != "" && c.fromAuthorization(call, mi.auth) {
		return
	}
	if mi.apiKeyName != "" {
		a.Scheme = model.AuthAPIKey
		a.APIKeyName = mi.apiKeyName
		call.Principal = model.Principal{Kind: model.PrincipalAPIKey, ID: c.hmac8(mi.apiKeyVal)}
		return
	}
	if qName != "" {
		a.Scheme = model.AuthAPIKey
		a.APIKeyName = qName
		a.APIKeyInQuery = true
		call.Principal = model.Principal{Kind: model.PrincipalAPIKey, ID: c.hmac8(qVal)}
		return
	}
	for i := 0; i < mi.ncookie; i++ {
		if v, ok := c.sessionCookie(mi.cookies[i]); ok {
			a.Scheme = model.AuthCookie
			call.Principal = model.Principal{Kind: model.PrincipalSession, ID: c.hmac8(v)}
			return
		}
	}
	// One string per connection, not per call.
	if call.ClientIP != c.ipAddr || c.ipStr == "" {
		c.ipAddr = call.ClientIP
		c.ipStr = call.ClientIP.String()
	}
	call.Principal = model.Principal{Kind: model.PrincipalIP, ID: c.ipStr}
}

func (c *Conn) fromAuthorization(call *model.Call, v string) bool {
	a := &call.Auth
	scheme, cred := v, ""
	if i := indexSpaceTab(v); i >= 0 {
		scheme, cred = v[:i], strings.TrimSpace(v[i+1:])
	}
	if cred == "" {
		// "Authorization: <token>" without a scheme: an opaque credential.
		a.Scheme = model.AuthOther
		call.Principal = model.Principal{Kind: model.PrincipalAPIKey, ID: c.hmac8(v)}
		return true
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		// decodeJWT is a pure function of the token, and a client sends the
		// same one on every request: remember the last answer, yes or no.
		if c.jwtCache.token != cred {
			info, ok := decodeJWT(cred)
			// Cloned: cred may point into the caller's buffer (prescan).
			c.jwtCache.token, c.jwtCache.info, c.jwtCache.ok = strings.Clone(cred), info, ok
		}
		if c.jwtCache.ok {
			c.applyJWT(call, &c.jwtCache.info, cred)
			return true
		}
		a.Scheme = model.AuthBearer
		call.Principal = model.Principal{Kind: model.PrincipalAPIKey, ID: c.hmac8(cred)}
		return true
	case strings.EqualFold(scheme, "Basic"):
		a.Scheme = model.AuthBasic
		if user, ok := basicUser(cred); ok {
			call.Principal = model.Principal{Kind: model.PrincipalBasic, ID: user}
		} else {
			call.Principal = model.Principal{Kind: model.PrincipalAPIKey, ID: c.hmac8(cred)}
		}
		return true
	case strings.EqualFold(scheme, "Digest"):
		a.Scheme = model.AuthOther
		if user := digestUser(cred); user != "" {
			call.Principal = model.Principal{Kind: model.PrincipalBasic, ID: user}
			return true
		}
	default:
		a.Scheme = model.AuthOther
	}
	call.Principal = model.Principal{Kind: model.PrincipalAPIKey, ID: c.hmac8(cred)}
	return true
}

type jwtInfo struct {
	alg    string
	id     string
	hasExp bool
	exp    time.Time
}

func (c *Conn) applyJWT(call *model.Call, info *jwtInfo, tok string) {
	a := &call.Auth
	a.Scheme = model.AuthBearerJWT
	a.JWTAlg = info.alg
	a.JWTHasExp = info.hasExp
	a.JWTExp = info.exp
	if info.id != "" {
		call.Principal = model.Principal{Kind: model.PrincipalJWT, ID: info.id}
	} else {
		call.Principal = model.Principal{Kind: model.PrincipalAPIKey, ID: c.hmac8(tok)}
	}
}

// decodeJWT decodes (never verifies) a JWS compact token.
func decodeJWT(tok string) (jwtInfo, bool) {
	var info jwtInfo
	d1 := strings.IndexByte(tok, '.')
	if d1 <= 0 {
		return info, false
	}
	d2 := strings.IndexByte(tok[d1+1:], '.')
	if d2 < 0 {
		return info, false
	}
	d2 += d1 + 1
	if strings.IndexByte(tok[d2+1:], '.') >= 0 || len(tok) > 16<<10 {
		return info, false
	}
	hb, err := b64url(tok[:d1])
	if err != nil {
		return info, false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg == "" {
		return info, false
	}
	info.alg = hdr.Alg
	pb, err := b64url(tok[d1+1 : d2])
	if err != nil {
		return info, false
	}
	var cl struct {
		Sub               any `json:"sub"`
		ClientID          any `json:"client_id"`
		Azp               any `json:"azp"`
		Email             any `json:"email"`
		PreferredUsername any `json:"preferred_username"`
		Upn               any `json:"upn"`
		Oid               any `json:"oid"`
		Exp               any `json:"exp"`
	}
	if json.Unmarshal(pb, &cl) != nil {
		return info, false
	}
	for _, v := range []any{cl.Sub, cl.ClientID, cl.Azp, cl.Email, cl.PreferredUsername, cl.Upn, cl.Oid} {
		if s := claimString(v); s != "" {
			info.id = s
			break
		}
	}
	if f, ok := cl.Exp.(float64); ok && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e15 {
		sec, frac := math.Modf(f)
		info.hasExp = true
		info.exp = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	return info, true
}

func claimString(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return ""
	}
	if len(s) > maxPrincipalID {
		s = s[:maxPrincipalID]
	}
	return s
}

func b64url(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}

func basicUser(cred string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "="))
		if err != nil {
			return "", false
		}
	}
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		i = len(b)
	}
	if i == 0 || i > maxPrincipalID {
		return "", false
	}
	return string(b[:i]), true
}

func digestUser(cred string) string {
	for cred != "" {
		var part string
		part, cred, _ = strings.Cut(cred, ",")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "username") {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			if len(v) > maxPrincipalID {
				v = v[:maxPrincipalID]
			}
			return strings.Clone(v) // cred may be the caller's buffer (prescan)
		}
	}
	return ""
}

// sessionCookie finds a configured session cookie in one Cookie header.
func (c *Conn) sessionCookie(h string) (string, bool) {
	for h != "" {
		var part string
		part, h, _ = strings.Cut(h, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			continue
		}
		if _, hit := c.p.sessionCookie[strings.TrimSpace(k)]; hit {
			return v, true
		}
	}
	return "", false
}

// redactQuery finds the first API-key parameter and replaces every such
// value with "[redacted]" in URI and Query. It returns the name and raw
// value of the first one.
func (c *Conn) redactQuery(call *model.Call) (name, val string) {
	q := call.Query
	if q == "" || len(c.p.cfg.APIKeyParams) == 0 || strings.IndexByte(q, '=') < 0 {
		return "", ""
	}
	var out []byte // built only when something is redacted
	rest := q
	pos := 0
	for rest != "" {
		part := rest
		n := len(rest)
		if i := strings.IndexByte(rest, '&'); i >= 0 {
			part, rest, n = rest[:i], rest[i+1:], i+1
		} else {
			rest = ""
		}
		k, v, ok := strings.Cut(part, "=")
		if ok && v != "" && len(k) <= maxAPIKeyParam {
			if lowerKey(k, c.p.apiKeyParamByLen[len(k)]) {
				if name == "" {
					name, val = k, v
				}
				if out == nil {
					out = append(out, q[:pos]...)
				}
				out = append(out, k...)
				out = append(out, '=')
				out = append(out, redacted...)
				if n > len(part) { // an '&' followed
					out = append(out, '&')
				}
				pos += n
				continue
			}
		}
		if out != nil {
			out = append(out, q[pos:pos+n]...)
		}
		pos += n
	}
	if out == nil {
		return name, val
	}
	newQ := string(out)
	// The query is what follows the URI's first '?' (splitPathQuery; no
	// authority or path can hold one before it). Searching for the query's
	// text instead found a copy of it in the path ("/api_key=S?api_key=S")
	// and left the secret in the query.
	if k := strings.IndexByte(call.URI, '?') + 1; k > 0 && strings.HasPrefix(call.URI[k:], call.Query) {
		call.URI = call.URI[:k] + newQ + call.URI[k+len(call.Query):]
	}
	call.Query = newQ
	return name, val
}

// clientFromXFF returns the right-most X-Forwarded-For address that is not a
// trusted proxy, when the TCP peer itself is trusted; else peer.
func (p *Parser) clientFromXFF(peer netip.Addr, hdrs model.Headers) netip.Addr {
	if !p.trusted(peer) {
		return peer
	}
	client := peer
	for i := len(hdrs) - 1; i >= 0; i-- {
		if !strings.EqualFold(hdrs[i].Name, "X-Forwarded-For") {
			continue
		}
		v := hdrs[i].Value
		for v != "" {
			part := v
			if k := strings.LastIndexByte(v, ','); k >= 0 {
				part, v = v[k+1:], v[:k]
			} else {
				v = ""
			}
			a, ok := parseXFFAddr(strings.TrimSpace(part))
			if !ok {
				return client // garbage: trust nothing further left
			}
			if !p.trusted(a) {
				return a
			}
			client = a
		}
	}
	return client
}

func (p *Parser) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, pf := range p.cfg.TrustedProxies {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// parseXFFAddr accepts "1.2.3.4", "1.2.3.4:5678", "::1", "[::1]:80",
// "[::1]"; an IPv4-mapped IPv6 address is the IPv4 one, in every form.
func parseXFFAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// hmac8 memoises the last value per connection: a client sends the same
// key or token on every request, and HMAC-SHA256 is the costliest step of
// principal extraction (~40% of it when measured).
func (c *Conn) hmac8(v string) string {
	if v == c.macIn && c.macOut != "" {
		return c.macOut
	}
	// Cloned: v may point into the caller's buffer (prescan).
	c.macIn, c.macOut = strings.Clone(v), c.p.hmac8(v)
	return c.macOut
}
