package parser

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/apisensor/apisensor/model"
)

// Config tunes one Parser. Every limit bounds per-connection memory.
type Config struct {
	// MaxBody is how many bytes of each message body are kept in
	// Call.ReqBody.Data / Call.RespBody.Data. Body.Bytes always counts the
	// full (de-chunked) length.
	MaxBody int
	// MaxHeaderBytes caps one header block (start line + fields, or a chunked
	// trailer block). A block beyond it is counted (ReasonHeaderTooLarge), the
	// message is dropped and the direction resyncs.
	MaxHeaderBytes int
	// MaxPipeline caps requests per connection still waiting for their
	// response. When a new request would exceed it, the oldest waiting one is
	// emitted with FlagNoResponse (counted as ReasonPipelineOverflow).
	MaxPipeline int
	// HMACKey keys the HMAC-SHA256 used to turn API keys, opaque bearer
	// tokens and session cookies into non-secret "apikey:"/"session:"
	// principals. Required: a per-deployment secret, so principals cannot be
	// brute-forced back to short keys by someone holding only the output.
	HMACKey []byte
	// TrustedProxies lists the TCP peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SessionCookies are cookie names (case-sensitive, as browsers send them)
	// treated as session identifiers.
	SessionCookies []string
	// APIKeyHeaders are header names (case-insensitive) carrying API keys.
	APIKeyHeaders []string
	// APIKeyParams are query parameter names (case-insensitive) carrying API
	// keys. The default list deliberately leaves out "key" (too often a
	// search/cache key) but includes "access_token" (OAuth 2 RFC 6750 §2.3
	// query form), whose values are then HMAC'd like any API key.
	APIKeyParams []string
	// RecycleStrings lets Recycle reuse the memory of a Call's strings and
	// bodies too, not only of the Call and its header array: after Recycle
	// nothing may read any string or byte a recycled Call held (keep
	// model.Call.Clone copies, which own theirs). For a consumer that only
	// encodes or forwards calls (the sensor without discovery); one that
	// keeps strings, as discovery does in its maps, must leave it off.
	RecycleStrings bool
	// SkipBodies counts bodies (Body.Bytes) without keeping any byte: Data
	// stays nil, and the truncation flags are set as if MaxBody bytes had
	// been kept. For a consumer that never reads Body.Data (the sensor
	// without discovery writes only byte counts).
	SkipBodies bool
}

// DefaultConfig returns the documented defaults. HMACKey is left empty: the
// deployment must supply one (Validate fails otherwise).
func DefaultConfig() Config {
	return Config{
		MaxBody:        64 << 10,
		MaxHeaderBytes: 32 << 10,
		MaxPipeline:    64,
		SessionCookies: []string{
			"sessionid", "session", "session_id", "JSESSIONID", "PHPSESSID",
			"connect.sid", "ASP.NET_SessionId", "_session_id", "sid",
			"laravel_session", "CFID", "CFTOKEN", "rack.session",
		},
		APIKeyHeaders: []string{
			"X-API-Key", "Api-Key", "ApiKey", "X-Auth-Token", "X-ApiKey",
			"X-Access-Token", "X-Api-Token", "Ocp-Apim-Subscription-Key",
		},
		APIKeyParams: []string{"api_key", "apikey", "api-key", "access_token"},
	}
}

// Longest API-key header and query parameter names the parser can look up.
const (
	maxAPIKeyHeader = 63
	maxAPIKeyParam  = 64
)

// Validate reports every unusable setting.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBody < 0 {
		errs = append(errs, fmt.Errorf("MaxBody %d: must be >= 0", c.MaxBody))
	}
	if c.MaxHeaderBytes < 64 {
		errs = append(errs, fmt.Errorf("MaxHeaderBytes %d: must be >= 64", c.MaxHeaderBytes))
	}
	if c.MaxPipeline < 1 {
		errs = append(errs, fmt.Errorf("MaxPipeline %d: must be >= 1", c.MaxPipeline))
	}
	if len(c.HMACKey) == 0 {
		errs = append(errs, errors.New("HMACKey: required (per-deployment secret for apikey/session principals)"))
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("TrustedProxies: invalid prefix %v", p))
		}
	}
	for _, lst := range [][]string{c.SessionCookies, c.APIKeyHeaders, c.APIKeyParams} {
		for _, n := range lst {
			if strings.TrimSpace(n) == "" {
				errs = append(errs, errors.New("empty name in SessionCookies/APIKeyHeaders/APIKeyParams"))
			}
		}
	}
	// The lookup tables are indexed by name length (parser.New): a longer
	// name would silently match nothing and its secret stay in the output.
	// Names are matched ASCII case-insensitively, so a non-ASCII name would
	// match nothing either (and lowercasing could lengthen it past the
	// table).
	for _, k := range []struct {
		field string
		names []string
		max   int
	}{{"APIKeyHeaders", c.APIKeyHeaders, maxAPIKeyHeader}, {"APIKeyParams", c.APIKeyParams, maxAPIKeyParam}} {
		for _, n := range k.names {
			switch {
			case len(n) > k.max:
				errs = append(errs, fmt.Errorf("%s: %q is longer than %d bytes", k.field, n, k.max))
			case !model.IsASCII(n):
				errs = append(errs, fmt.Errorf("%s: %q is not ASCII (names are matched ASCII case-insensitively)", k.field, n))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("parser config: %w", errors.Join(errs...))
	}
	return nil
}
