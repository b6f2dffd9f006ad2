package model

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Direction is the side of a TCP connection a byte came from.
type Direction uint8

const (
	ClientToServer Direction = 0
	ServerToClient Direction = 1
)

func (d Direction) String() string {
	if d == ClientToServer {
		return "c2s"
	}
	return "s2c"
}

// Reverse returns the other direction.
func (d Direction) Reverse() Direction { return d ^ 1 }

// ConnMeta describes one reassembled TCP connection. Client is the side that
// sent the SYN, or, for a connection picked up mid-stream, the side the
// reassembler guessed (a parser may swap the roles when the bytes say
// otherwise).
type ConnMeta struct {
	Client, Server netip.AddrPort
	// Tunnel identifies the encapsulation the packets arrived in (VLAN ids,
	// VXLAN/GENEVE VNI, GRE key, ERSPAN session); 0 when none. The same inner
	// 5-tuple in two tunnels is two connections.
	Tunnel uint64
	// Start is the timestamp of the first packet seen on the connection.
	Start time.Time
	// Midstream is set when no SYN was seen.
	Midstream bool
}

// Header is one HTTP header field as sent: the name keeps its case.
type Header struct {
	Name  string
	Value string
}

// Headers is a header block in wire order; duplicates are kept.
type Headers []Header

// Get returns the first value of the named header (case-insensitive).
func (h Headers) Get(name string) string {
	for i := range h {
		if strings.EqualFold(h[i].Name, name) {
			return h[i].Value
		}
	}
	return ""
}

// Has reports whether the named header is present (case-insensitive).
func (h Headers) Has(name string) bool {
	for i := range h {
		if strings.EqualFold(h[i].Name, name) {
			return true
		}
	}
	return false
}

// Body is an HTTP message body as it crossed the wire after de-chunking and
// before content decoding. Data holds at most the configured cap; Bytes is the
// full length seen.
type Body struct {
	Data            []byte
	Bytes           int64
	Truncated       bool // Data holds less than Bytes (cap or gap)
	ContentType     string
	ContentEncoding string
}

// CallFlags are per-transaction anomalies worth keeping for detectors.
type CallFlags uint32

const (
	FlagReqGap            CallFlags = 1 << iota // bytes missing in the request
	FlagRespGap                                 // bytes missing in the response
	FlagAmbiguousLength                         // CL and TE both present, or conflicting CLs (request smuggling signal)
	FlagBadChunk                                // malformed chunked encoding
	FlagHTTP09                                  // HTTP/0.9 request (no version)
	FlagNoResponse                              // closed or timed out before a response
	FlagNoRequest                               // response seen without its request (one-sided capture)
	FlagConnect                                 // CONNECT tunnel established
	FlagUpgrade                                 // 101 Switching Protocols
	FlagMidstream                               // connection picked up without a handshake
	FlagReqBodyTruncated                        // request body beyond the cap (not stored)
	FlagRespBodyTruncated                       // response body beyond the cap (not stored)
	FlagBadHeader                               // a header line that is not field-name ":" value
	FlagInterim                                 // one or more 1xx interim responses preceded the final one
)

var flagNames = [...]string{
	"req_gap", "resp_gap", "ambiguous_length", "bad_chunk", "http09",
	"no_response", "no_request", "connect", "upgrade", "midstream",
	"req_body_truncated", "resp_body_truncated", "bad_header", "interim",
}

// NumFlags is the number of defined flag bits.
const NumFlags = len(flagNames)

// FlagName is the name of flag bit i (1<<i).
func FlagName(i int) string { return flagNames[i] }

// Names lists the set flags in a fixed order.
func (f CallFlags) Names() []string {
	var out []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// AuthScheme is how a request authenticated itself, as seen on the wire.
type AuthScheme uint8

const (
	AuthNone AuthScheme = iota
	AuthBasic
	AuthBearer    // opaque bearer token
	AuthBearerJWT // bearer token that decodes as a JWT
	AuthAPIKey
	AuthCookie
	AuthOther
)

var authNames = [...]string{"none", "basic", "bearer", "bearer-jwt", "apikey", "cookie", "other"}

func (a AuthScheme) String() string {
	if int(a) < len(authNames) {
		return authNames[a]
	}
	return "unknown"
}

// Auth is what the sensor learned about a request's credentials. It never
// holds a secret.
type Auth struct {
	Scheme        AuthScheme
	JWTAlg        string // "alg" of a JWT header, e.g. "RS256", "none"
	JWTHasExp     bool
	JWTExp        time.Time // zero when absent
	APIKeyInQuery bool
	APIKeyName    string // header or query parameter that carried the key
}

// PrincipalKind says what identity a principal was derived from.
type PrincipalKind uint8

const (
	PrincipalIP PrincipalKind = iota
	PrincipalJWT
	PrincipalBasic
	PrincipalAPIKey
	PrincipalSession
)

var principalPrefix = [...]string{"ip", "jwt", "basic", "apikey", "session"}

func (k PrincipalKind) String() string {
	if int(k) < len(principalPrefix) {
		return principalPrefix[k]
	}
	return "unknown"
}

// Principal is a readable, non-secret identity: "jwt:<sub>",
// "basic:<user>", "apikey:<hmac8>", "session:<hmac8>" or "ip:<addr>".
type Principal struct {
	Kind PrincipalKind
	ID   string
}

func (p Principal) String() string {
	if p.ID == "" {
		return ""
	}
	return principalPrefix[p.Kind] + ":" + p.ID
}

// Call is one HTTP transaction: a request and its final response (either may
// be missing on a one-sided or truncated capture).
type Call struct {
	TS       time.Time // request start (first byte of the request line)
	RespTS   time.Time // first byte of the final response; zero when none
	EndTS    time.Time // last byte of the transaction
	Src, Dst netip.AddrPort
	Tunnel   uint64

	Host     string // Host header (or absolute-form authority) in NormHost form: no port, lower case
	Method   string
	URI      string // request-target as sent
	Path     string // path part of URI, not decoded
	Query    string // raw query without '?'
	Template string // filled by discovery
	Proto    string // "HTTP/1.1", "HTTP/1.0", "HTTP/0.9"

	Status     uint16 // 0 = no response seen
	StatusText string // status code as sent when it is not three digits (e.g. "2XX"); reason otherwise
	Interim    []uint16

	ReqHeaders  Headers
	RespHeaders Headers
	ReqBody     Body
	RespBody    Body

	UserAgent string
	Principal Principal
	ClientIP  netip.Addr // Src's address, or the X-Forwarded-For client from a trusted proxy
	Auth      Auth
	Flags     CallFlags

	// Slab is the parser's allocation class for this Call (0: not made by
	// the parser); parser.Parser.Recycle reuses the memory by it, so only
	// the parser sets it. Not part of the output.
	Slab uint8
}

// Clone returns a deep copy of c, for keeping a Call beyond the sink call
// that received it: the sensor reuses the original's memory afterwards,
// its strings and body bytes too when the parser runs with
// RecycleStrings, so the copy owns every string, slice and byte it holds.
func (c *Call) Clone() *Call {
	d := *c
	d.Slab = 0
	for _, s := range []*string{&d.Host, &d.Method, &d.URI, &d.Path, &d.Query, &d.Template,
		&d.Proto, &d.StatusText, &d.UserAgent, &d.Principal.ID, &d.Auth.JWTAlg, &d.Auth.APIKeyName,
		&d.ReqBody.ContentType, &d.ReqBody.ContentEncoding, &d.RespBody.ContentType, &d.RespBody.ContentEncoding} {
		*s = strings.Clone(*s)
	}
	d.ReqHeaders = cloneHeaders(c.ReqHeaders)
	d.RespHeaders = cloneHeaders(c.RespHeaders)
	d.ReqBody.Data = bytes.Clone(c.ReqBody.Data)
	d.RespBody.Data = bytes.Clone(c.RespBody.Data)
	d.Interim = slices.Clone(c.Interim)
	return &d
}

func cloneHeaders(h Headers) Headers {
	if h == nil {
		return nil
	}
	d := make(Headers, len(h))
	for i, f := range h {
		d[i] = Header{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)}
	}
	return d
}

// Latency is the time from request start to the first byte of the final
// response; 0 when either is missing.
func (c *Call) Latency() time.Duration {
	if c.RespTS.IsZero() || c.TS.IsZero() || c.RespTS.Before(c.TS) {
		return 0
	}
	return c.RespTS.Sub(c.TS)
}
