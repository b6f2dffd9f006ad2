package parser

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apisensor/apisensor/model"
)

// Sink receives finished transactions. The parser gives up ownership of c:
// it never reads or writes c (or anything c points to) after the call.
type Sink interface {
	Call(c *model.Call)
}

// Reason is why a message or byte range was not parsed as expected.
type Reason uint8

const (
	ReasonBadRequestLine Reason = iota
	ReasonBadStatusLine
	ReasonHeaderTooLarge
	ReasonBadChunk
	ReasonAmbiguousLength
	ReasonPipelineOverflow
	ReasonBadHeader
	ReasonBadContentLength
	NumReasons // number of reasons, for arrays indexed by Reason
)

var reasonNames = [NumReasons]string{
	"bad_request_line", "bad_status_line", "header_too_large", "bad_chunk",
	"ambiguous_length", "pipeline_overflow", "bad_header", "bad_content_length",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Stats are cumulative counters for one Parser. Snapshot with Parser.Stats.
type Stats struct {
	Conns          uint64
	Requests       uint64 // request header blocks parsed
	Responses      uint64 // final responses parsed
	Interim        uint64 // 1xx interim responses parsed
	Calls          uint64 // calls handed to the sink
	NoResponse     uint64 // calls emitted without a response
	NoRequest      uint64 // calls emitted without a request
	Errors         ErrorCounts
	Resyncs        uint64 // times a direction started discarding to find a message start
	Gaps           uint64 // Gap calls on live HTTP directions
	GapBytes       uint64
	SkippedBytes   uint64 // bytes discarded while resyncing
	AbandonedConns uint64 // connections dropped as not HTTP
	Upgrades       uint64 // 101 Switching Protocols: parsing stopped
	Tunnels        uint64 // CONNECT tunnels established
	HTTP09         uint64
	// HTTP2 counts connections that opened with the HTTP/2 client preface
	// (h2c with prior knowledge, gRPC without TLS): not parsed, and not
	// counted as errors or as not HTTP.
	HTTP2 uint64
}

// ErrorCounts counts errors by Reason. In JSON it is an object keyed by
// the reason's name, so --stats-json says what the errors were.
type ErrorCounts [NumReasons]uint64

// MarshalJSON writes {"bad_request_line": n, ...}, every reason, in Reason
// order.
func (e ErrorCounts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for r, n := range e {
		if r > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, Reason(r).String())
		b = append(b, ':')
		b = strconv.AppendUint(b, n, 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes; unknown names are ignored.
func (e *ErrorCounts) UnmarshalJSON(b []byte) error {
	var m map[string]uint64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*e = ErrorCounts{}
	for r := range NumReasons {
		e[r] = m[r.String()]
	}
	return nil
}

// String lists the reasons with a non-zero count, "bad_header 105,
// bad_content_length 5", for a summary line; "" when there are none.
func (e ErrorCounts) String() string {
	var b []byte
	for r, n := range e {
		if n == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, Reason(r).String()...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, n, 10)
	}
	return string(b)
}

// Error returns the counter for one reason.
func (s Stats) Error(r Reason) uint64 {
	if r < NumReasons {
		return s.Errors[r]
	}
	return 0
}

// counters are atomics so a metrics goroutine may call Stats while the
// worker parses; the increments are per message, not per byte, so their cost
// is invisible next to parsing.
type counters struct {
	conns, requests, responses, interim, calls, noResponse, noRequest atomic.Uint64
	errors                                                            [NumReasons]atomic.Uint64
	resyncs, gaps, gapBytes, skipped, abandoned, upgrades, tunnels    atomic.Uint64
	http09                                                            atomic.Uint64
	http2                                                             atomic.Uint64
}

// Parser turns connections' byte streams into Calls. One Parser per worker
// goroutine: its Conns, pools and HMAC state are not safe for concurrent use
// (Stats is).
type Parser struct {
	cfg  Config
	sink Sink
	st   counters

	mac      hash.Hash // reused HMAC-SHA256; single goroutine
	macSum   []byte
	bodyPool sync.Pool // *[]byte with cap MaxBody, for bodies of unknown length
	slab     callSlab  // Calls handed back by Recycle, for reuse
	mem      *arena    // block and body memory; nil unless cfg.RecycleStrings

	apiKeyLens    uint64 // bit n set: some API-key header name has length n
	plain         bool   // tests: no credential cut, no section reuse (the reference)
	sessionCookie map[string]struct{}
	// The lowercased API-key header and parameter names by length,
	// compared by hand with ASCII folding (lowerKey): 4 ns against 18 ns for
	// lowercasing into a buffer and hashing it for a map.
	apiKeyHeaderByLen [maxAPIKeyHeader + 1][]string
	apiKeyParamByLen  [maxAPIKeyParam + 1][]string

	// Worker scratch, valid only during one head call (one goroutine).
	ends    []int32        // LF offsets of the header block being parsed
	scratch []model.Header // fields of 1xx responses, which are not kept
}

// maxScratchLines bounds Parser.ends; a block with more lines is split by
// scanning it again.
const maxScratchLines = 256

// lineEnds records the offset of every LF of block in the worker's scratch;
// nil when there are more than it holds.
func (p *Parser) lineEnds(block []byte) []int32 {
	if len(block) > math.MaxInt32 {
		return nil
	}
	ends := p.ends[:0]
	for off := 0; ; {
		j := bytes.IndexByte(block[off:], '\n')
		if j < 0 {
			return ends
		}
		if len(ends) == cap(ends) {
			return nil
		}
		ends = append(ends, int32(off+j))
		off += j + 1
	}
}

// New checks cfg and returns a Parser emitting to sink.
func New(cfg Config, sink Sink) (*Parser, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, fmt.Errorf("parser: nil sink")
	}
	p := &Parser{
		cfg:           cfg,
		sink:          sink,
		mac:           hmac.New(sha256.New, cfg.HMACKey),
		macSum:        make([]byte, 0, sha256.Size),
		sessionCookie: make(map[string]struct{}, len(cfg.SessionCookies)),
	}
	// Validate (above) rejects names longer than the tables.
	for n := range lowerSet(cfg.APIKeyHeaders) {
		p.apiKeyLens |= 1 << uint(len(n))
		p.apiKeyHeaderByLen[len(n)] = append(p.apiKeyHeaderByLen[len(n)], n)
	}
	for n := range lowerSet(cfg.APIKeyParams) {
		p.apiKeyParamByLen[len(n)] = append(p.apiKeyParamByLen[len(n)], n)
	}
	p.ends = make([]int32, 0, maxScratchLines)
	p.scratch = make([]model.Header, 0, 32)
	for _, n := range cfg.SessionCookies {
		p.sessionCookie[n] = struct{}{}
	}
	max := cfg.MaxBody
	p.bodyPool.New = func() any { b := make([]byte, 0, max); return &b }
	if cfg.RecycleStrings {
		p.mem = newArena()
	}
	return p, nil
}

func lowerSet(names []string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = struct{}{}
	}
	return m
}

// Stats returns a snapshot of the counters. Safe from any goroutine.
func (p *Parser) Stats() Stats {
	s := &p.st
	out := Stats{
		Conns: s.conns.Load(), Requests: s.requests.Load(), Responses: s.responses.Load(),
		Interim: s.interim.Load(), Calls: s.calls.Load(), NoResponse: s.noResponse.Load(),
		NoRequest: s.noRequest.Load(), Resyncs: s.resyncs.Load(), Gaps: s.gaps.Load(),
		GapBytes: s.gapBytes.Load(), SkippedBytes: s.skipped.Load(),
		AbandonedConns: s.abandoned.Load(), Upgrades: s.upgrades.Load(),
		Tunnels: s.tunnels.Load(), HTTP09: s.http09.Load(),
		HTTP2: s.http2.Load(),
	}
	for i := range out.Errors {
		out.Errors[i] = s.errors[i].Load()
	}
	return out
}

func (p *Parser) count(r Reason) { p.st.errors[r].Add(1) }

// lowerKey reports whether ASCII-lowercasing s gives one of names (all of
// len(s) bytes): the same answer as lowercasing into a buffer and looking it
// up in a set of the names, 4 ns against 18 ns (X-Request-Id, defaults).
func lowerKey(s string, names []string) bool {
	for _, n := range names {
		if model.ASCIIFoldEq(s, n) {
			return true
		}
	}
	return false
}

// hmac8 returns the first 8 hex characters of HMAC-SHA256(key, v).
func (p *Parser) hmac8(v string) string {
	p.mac.Reset()
	// No []byte(v) copy (it escaped: one allocation per cache miss, found
	// in review): the HMAC reads v and keeps nothing of it.
	p.mac.Write(unsafe.Slice(unsafe.StringData(v), len(v)))
	sum := p.mac.Sum(p.macSum[:0])
	var out [8]byte
	hex.Encode(out[:], sum[:4])
	return string(out[:])
}

// NewConn returns the Stream for one connection. It satisfies the
// reassembly.Stream interface structurally.
func (p *Parser) NewConn(meta model.ConnMeta) *Conn {
	p.st.conns.Add(1)
	c := &Conn{p: p, meta: meta}
	c.h[0].dir = model.ClientToServer
	c.h[0].isReq = true
	c.h[1].dir = model.ServerToClient
	return c
}
