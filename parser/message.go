package parser

import (
	"bytes"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/apisensor/apisensor/model"
)

func trimCR[T ~string | ~[]byte](s T) T {
	if n := len(s); n > 0 && s[n-1] == '\r' {
		return s[:n-1]
	}
	return s
}

// splitRequestLine splits "method SP target [SP version]". ok is false when
// the method is not a token or the target is empty or holds control bytes.
func splitRequestLine[T ~string | ~[]byte](line T) (method, target, version T, ok bool) {
	m, ts, te, vs, ve, ok := requestLineIdx(line)
	if !ok {
		return
	}
	return line[:m], line[ts:te], line[vs:ve], true
}

// requestLineIdx is splitRequestLine as offsets: method is line[:m], the
// target line[ts:te], the version line[vs:ve] (empty when absent). The
// offsets let head's validation be reused by onRequest instead of splitting
// the line twice.
func requestLineIdx[T ~string | ~[]byte](line T) (m, ts, te, vs, ve int, ok bool) {
	i := 0
	for i < len(line) && isMethodChar(line[i]) {
		i++
	}
	if i == 0 || i > maxMethodLen || i >= len(line) || line[i] != ' ' {
		return
	}
	m, ts = i, i+1
	// Targets hold no spaces (RFC 9112 §3.2); a version is the last word.
	j := len(line)
	for j > ts && line[j-1] == ' ' {
		j--
	}
	te = j
	k := -1
	for x := j - 1; x >= ts; x-- {
		if line[x] == ' ' {
			k = x
			break
		}
	}
	if k >= 0 && isHTTP1Version(line[k+1:j]) {
		vs, ve = k+1, j
		te = k
		for te > ts && line[te-1] == ' ' {
			te--
		}
	}
	if te == ts {
		return
	}
	for x := ts; x < te; x++ {
		if ch := line[x]; ch < 0x20 && ch != '\t' || ch == 0x7f {
			return
		}
	}
	ok = true
	return
}

// httpPrefix starts every HTTP/1.x version and status line.
const httpPrefix = "HTTP/1."

// isHTTP1Version accepts "HTTP/1." followed by digits (lenient: "HTTP/1.01"
// is an evasion seen in the wild, and it is still HTTP/1).
func isHTTP1Version[T ~string | ~[]byte](v T) bool {
	if len(v) <= len(httpPrefix) || string(v[:len(httpPrefix)]) != httpPrefix {
		return false
	}
	for i := len(httpPrefix); i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// statusLineIdx splits "HTTP/1.x SP code [SP reason]" as offsets: version
// line[:v], code line[cs:ce], reason line[rs:].
func statusLineIdx[T ~string | ~[]byte](line T) (v, cs, ce, rs int, ok bool) {
	i := 0
	for i < len(line) && line[i] != ' ' {
		i++
	}
	if !isHTTP1Version(line[:i]) {
		return
	}
	v = i
	for i < len(line) && line[i] == ' ' {
		i++
	}
	j := i
	for j < len(line) && line[j] != ' ' {
		j++
	}
	if j == i {
		return
	}
	cs, ce = i, j
	for x := cs; x < ce; x++ {
		if ch := line[x]; ch < 0x21 || ch == 0x7f {
			return
		}
	}
	for j < len(line) && line[j] == ' ' {
		j++
	}
	rs = j
	ok = true
	return
}

func threeDigits[T ~string | ~[]byte](s T) (uint16, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v uint16
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + uint16(s[i]-'0')
	}
	return v, true
}

var knownMethods = [...]string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

func isKnownMethod(m []byte) bool {
	for _, k := range knownMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

// startLineOK validates the first line of a block and notes a versionless
// request (HTTP/0.9 candidate).
func (c *Conn) startLineOK(h *half, line []byte) bool {
	if h.isReq {
		mi, ts, te, vs, ve, ok := requestLineIdx(line)
		if !ok {
			return false
		}
		m, t := line[:mi], line[ts:te]
		if vs == ve {
			// Only GET existed in HTTP/0.9 (RFC 1945 §4.1); a versionless line
			// with another word is some other text protocol.
			if h.probe != probeNone || string(m) != "GET" || !plausible09Target(t) {
				return false
			}
			h.v09 = true
		}
		if h.probe == probeSplit && !isKnownMethod(m) {
			return false
		}
		h.sl = [5]int{mi, ts, te, vs, ve}
		return true
	}
	v, cs, ce, rs, ok := statusLineIdx(line)
	if !ok {
		return false
	}
	if h.probe != probeNone {
		if _, ok := threeDigits(line[cs:ce]); !ok {
			return false
		}
	}
	h.sl = [5]int{v, cs, ce, rs}
	return true
}

func plausible09Target[T ~string | ~[]byte](t T) bool {
	if len(t) == 0 {
		return false
	}
	if t[0] == '/' {
		return true
	}
	return len(t) > 7 && (string(t[:7]) == "http://" || (len(t) > 8 && string(t[:8]) == "https://"))
}

// isV09Line reports whether a buffered, possibly unterminated, first line is
// a complete HTTP/0.9 request ("GET /path").
func isV09Line(b []byte) bool {
	m, t, v, ok := splitRequestLine(bytes.TrimRight(b, "\r\n"))
	return ok && len(v) == 0 && string(m) == "GET" && plausible09Target(t)
}

// msgInfo is what the header loop learned about framing and identity.
type msgInfo struct {
	host, ua, ctype, cenc string
	auth, apiKeyName      string
	apiKeyVal             string
	cookies               [4]string
	ncookie               int
	xff                   bool
	cl                    int64
	clSeen, clBad, clDiff bool
	teSeen, chunked       bool
}

func (c *Conn) clientAddr() netip.AddrPort {
	if c.swapped {
		return c.meta.Server
	}
	return c.meta.Client
}

func (c *Conn) serverAddr() netip.AddrPort {
	if c.swapped {
		return c.meta.Client
	}
	return c.meta.Server
}

// respHeadroom is how many response fields a request's Call reserves room
// for next to its own on a connection that has not answered yet; after that
// the last final response's field count is used (Conn.respFields), since a
// server sends much the same header set every time. callSlab.alloc rounds up to
// what its size class holds.
const respHeadroom = 8

// fieldRoom is how many slots parseFields needs for a section of n lines
// (the blank line included): every field takes a line, the blank line none.
// At least one, so a section with no fields still gives a non-nil slice.
func fieldRoom(n int) int { return max(n-1, 1) }

// newCall returns a Call for this connection with room for slots header
// fields (see callSlab.alloc).
func (c *Conn) newCall(slots int) (*model.Call, []model.Header) {
	call, spare := c.p.slab.alloc(slots)
	call.Src = c.clientAddr()
	call.Dst = c.serverAddr()
	call.Tunnel = c.meta.Tunnel
	call.ClientIP = call.Src.Addr()
	if c.meta.Midstream {
		call.Flags |= model.FlagMidstream
	}
	return call, spare
}

func gapFlagFor(h *half) model.CallFlags {
	if h.isReq {
		return model.FlagReqGap
	}
	return model.FlagRespGap
}

// fieldLines tells parseFields where the lines of the field section end.
type fieldLines struct {
	ends []int32 // offsets of every LF in the block; nil: find them by scanning
	off  int     // offset of the field section in the block
	n    int     // number of LFs in the field section
}

// onHead parses a complete header block. block ends with the blank line;
// ends, when not nil, holds the offset of every LF in it.
func (c *Conn) onHead(h *half, block []byte, ends []int32, ts time.Time) {
	// One string for the whole block: every header name and value, the
	// method, target and version are substrings of it, so a block costs one
	// allocation (no per-field conversions, and no interning needed).
	var nl int
	if ends != nil {
		nl = int(ends[0])
	} else {
		nl = bytes.IndexByte(block, '\n')
	}
	// A request's credential is cut out of the kept copy (prescan): the
	// stored field only keeps the scheme, and a bearer JWT (~550 bytes) was
	// most of a request block. rx.auth is then the whole value, valid only
	// during this call (principal reads it; its caches clone what they keep).
	var rx reqExtra
	n, cs, ce, vs, ve := c.prescan(h, block, ends)
	if ce > cs {
		rx.auth = unsafe.String(&block[vs], ve-vs)
	}
	cut := ce - cs
	kept := len(block)
	if h.isReq && ends != nil {
		rx.raw = block[nl+1:]
		// A repeated field section needs no copy: its fields come from
		// the cache and point into the cache's own copy of the section.
		if rx.reuse = c.reqSec.ok && !c.p.plain && bytes.Equal(rx.raw, c.reqSec.raw); rx.reuse {
			kept, cut = nl+1, 0
		}
	}
	var s string
	if n > 0 || cut > 0 || rx.reuse {
		// The Content-Length body shares the block's allocation: the string
		// covers only the block, Body.Data (capped at n) only the rest, so
		// neither can reach the other's bytes. One allocation less per
		// message with a body.
		kept -= cut
		buf := c.blockBytes(kept + n)
		if buf == nil {
			buf = make([]byte, kept+n)
		}
		if cut > 0 {
			copy(buf, block[:cs])
			copy(buf[cs:], block[cs+cut:])
			// ends is scratch for this block: move the LFs after the cut.
			for k := range ends {
				if int(ends[k]) >= ce {
					ends[k] -= int32(cut)
				}
			}
		} else {
			copy(buf, block[:kept])
		}
		s = unsafe.String(&buf[0], kept)
		if n > 0 {
			h.bodyHint = buf[kept:kept:len(buf)]
		}
	} else if buf := c.blockBytes(len(block)); buf != nil {
		copy(buf, block)
		s = unsafe.String(&buf[0], len(buf))
	} else {
		s = string(block)
	}
	start := trimCR(s[:nl])
	rest := s[nl+1:]
	fl := fieldLines{off: nl + 1}
	if ends != nil {
		fl.ends = ends[1:]
		fl.n = len(fl.ends)
	} else {
		fl.n = strings.Count(rest, "\n")
	}
	if h.isReq {
		c.onRequest(h, start, rest, fl, &rx, ts)
	} else {
		c.onResponse(h, start, rest, fl, ts)
	}
	h.bodyHint = nil
	if c.p.mem != nil {
		// Every path above gives the block to a Call or drops it (1xx):
		// this keeps a future path that forgets safe, not fast.
		c.p.mem.taintPending()
	}
}

// blockBytes returns n bytes of the arena for a header block, pending
// until the Call that takes the block's strings holds them (holdBlock);
// nil without an arena or when the piece must come from the heap.
func (c *Conn) blockBytes(n int) []byte {
	if c.p.mem == nil {
		return nil
	}
	return c.p.mem.alloc(n)
}

// holdBlock makes call the holder of the block onHead allocated.
func (c *Conn) holdBlock(call *model.Call) {
	if c.p.mem != nil {
		c.p.mem.holdPending(call)
	}
}

// bytesFor returns an empty slice with room for n bytes held by call: from
// the arena when there is one, else the heap.
func (c *Conn) bytesFor(call *model.Call, n int) []byte {
	if c.p.mem != nil && call != nil {
		if b := c.p.mem.alloc(n); b != nil {
			c.p.mem.holdPending(call)
			return b[:0]
		}
	}
	return make([]byte, 0, n)
}

// prescan makes one pass over the field lines of a block parsed in place
// (ends known) before it is copied, for two things:
//
// hint is the Content-Length body onHead allocates with the block: a hint
// only (startCL checks the real framing), so it looks at a single plain
// "Content-Length: digits" field, and gives up (0) on Transfer-Encoding, on
// several lengths and on messages that carry no body.
//
// [cs,ce) is what a request's kept copy can drop of its first Authorization
// field (the one principal uses), [vs,ve) that whole value: the credential,
// minus the value's first word, the blank after it and its last byte, so
// parseFields, trimOWS and redactAuth give the same stored field. ce == cs
// when nothing is cut; blocks with obs-fold lines are left alone, since
// joining lines could make another line the first Authorization field.
// Measured: BenchmarkParseJWT (RS256 token) 2368 -> 1648 B/op from the cut
// alone; one pass for both: a second line loop cost ~5% of the profile.
func (c *Conn) prescan(h *half, block []byte, ends []int32) (hint, cs, ce, vs, ve int) {
	max := c.p.cfg.MaxBody
	if ends == nil {
		return
	}
	wantHint := max > 0 && !c.p.cfg.SkipBodies
	wantAuth := h.isReq && !c.p.plain
	if wantHint {
		if h.isReq {
			if string(block[:h.sl[0]]) == "CONNECT" {
				wantHint = false
			}
		} else {
			code, numeric := threeDigits(block[h.sl[1]:h.sl[2]])
			if numeric && (code < 200 || code == 204 || code == 304) {
				wantHint = false
			}
			if t := c.awaiting(0); t != nil && (t.call.Method == "HEAD" || t.call.Method == "CONNECT") {
				wantHint = false
			}
		}
	}
	// Below this a cut saves nothing: the string's size class stays.
	const minCut = 16
	authSeen := false
	for k := 1; k < len(ends) && (wantHint || wantAuth); k++ {
		from := int(ends[k-1]) + 1
		line := block[from:ends[k]]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			wantAuth = false // obs-fold
			continue
		}
		if len(line) < 14 {
			continue
		}
		switch line[0] | 0x20 {
		case 'c', 't':
			if !wantHint || len(line) < 16 {
				continue
			}
			line = trimCR(line)
			switch {
			case len(line) > 15 && line[14] == ':' && (string(line[:14]) == "Content-Length" || model.ASCIIFoldEq(line[:14], "content-length")):
				if hint != 0 {
					hint, wantHint = 0, false
					continue
				}
				v := trimOWS(line[15:])
				if len(v) == 0 || len(v) > 18 {
					hint, wantHint = 0, false
					continue
				}
				for _, ch := range v {
					if ch < '0' || ch > '9' {
						hint, wantHint = 0, false
						break
					}
					hint = hint*10 + int(ch-'0')
				}
				if hint > max {
					hint, wantHint = 0, false
				}
			case len(line) > 18 && line[17] == ':' && model.ASCIIFoldEq(line[:17], "transfer-encoding"):
				hint, wantHint = 0, false
			}
		case 'a':
			if !wantAuth || authSeen {
				continue
			}
			// addField's test (the name before the first ':', OWS trimmed,
			// EqualFold "Authorization") without scanning for the colon on
			// every 'A' line; ASCIIFoldEq is EqualFold here, as no letter of the
			// name has a non-ASCII fold (only k and s do).
			if string(line[:13]) != "Authorization" && !model.ASCIIFoldEq(line[:13], "authorization") {
				continue
			}
			i := 13
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
				i++
			}
			if i == len(line) || line[i] != ':' {
				continue
			}
			line = trimCR(line)
			authSeen = true
			v := line[i+1:]
			a := 0
			for a < len(v) && (v[a] == ' ' || v[a] == '\t') {
				a++
			}
			v = trimOWS(v)
			vs, ve = from+i+1+a, from+i+1+a+len(v)
			keep := indexSpaceTab(v) + 1 // the scheme and its blank
			if keep == 0 {
				keep = 1
			}
			if len(v)-1-keep >= minCut {
				cs, ce = vs+keep, ve-1
			}
		}
	}
	if !wantAuth {
		cs, ce = 0, 0
	}
	return
}

// reqExtra is what onHead tells onRequest about a block parsed in place.
// auth and raw point into the caller's bytes: valid only during the call.
type reqExtra struct {
	auth  string // first Authorization value, when prescan cut its credential from rest
	raw   []byte // the field section as received, blank line included
	reuse bool   // raw equals c.reqSec.raw: rest is empty, the fields are cached
}

// maxReqSec bounds the field section a Conn keeps for reuse.
const maxReqSec = 4 << 10

// reqSection caches the last request's field section: a keep-alive client
// sends the same Host, User-Agent, Accept and token on every request, and a
// byte-identical section parses to the same fields, the same msgInfo and no
// error, so the next request copies them instead of parsing and keeping the
// bytes again (its string then holds the request line only). The strings
// point into a copy of the section the entry shares with the Call that
// filled it (reqSection.store). Measured: BenchmarkParseRequestResponse
// 1952 -> 1664 B/op, and parseFields (~20% of its profile) skipped; a save
// costs a copy of the section (ParseVarying).
type reqSection struct {
	raw    []byte
	hdrs   []model.Header
	mi     msgInfo // auth empty when it pointed into the caller's bytes
	ok     bool
	misses uint32 // requests since the last hit
}

// reuseFields gives dst (or a new slice) the shape parseFields would for a
// section of n lines, holding a copy of fields.
func reuseFields(fields []model.Header, n int, dst []model.Header) model.Headers {
	if n == 0 {
		return nil
	}
	need := fieldRoom(n)
	var hdrs model.Headers
	if cap(dst) >= need {
		hdrs = dst[:len(fields):need]
	} else {
		hdrs = make(model.Headers, len(fields), need)
	}
	copy(hdrs, fields)
	return hdrs
}

// onRequest parses a request head; rx says how onHead prepared the block.
// The start line was split by startLineOK (h.sl): a head reaches onHead
// only after its first line passed it.
func (c *Conn) onRequest(h *half, start, rest string, fl fieldLines, rx *reqExtra, ts time.Time) {
	x := &h.sl
	method, target, version := start[:x[0]], start[x[1]:x[2]], start[x[3]:x[4]]
	c.p.st.requests.Add(1)
	room := respHeadroom
	if c.respFields > 0 {
		room = int(c.respFields)
	}
	call, spare := c.newCall(fieldRoom(fl.n) + room)
	c.holdBlock(call)
	call.TS = h.msgTS
	call.EndTS = ts
	call.Method = method
	call.URI = target
	call.Proto = version
	if h.partial {
		call.Flags |= model.FlagReqGap
	}
	if len(version) == 0 {
		// "GET /" followed by header lines: not HTTP/0.9 (which has no
		// headers); treated as the HTTP/1.0 it behaves like.
		call.Proto = "HTTP/1.0"
	}
	var mi msgInfo
	var hdrs model.Headers
	if rx.reuse {
		c.reqSec.misses = 0
		mi = c.reqSec.mi
		if rx.auth != "" {
			mi.auth = rx.auth
		}
		hdrs = reuseFields(c.reqSec.hdrs, fl.n, spare)
	} else {
		save := rx.raw != nil && c.reqSec.wantSave(len(rx.raw))
		if save {
			// Parsed once, from a copy the entry and the Call share.
			rest = strings.Clone(rest)
		}
		mi.auth = rx.auth // addField keeps the first Authorization value
		hdrs = c.parseFields(rest, fl, spare, &mi, true, &call.Flags)
		if save && call.Flags&model.FlagBadHeader == 0 {
			c.reqSec.store(rx, hdrs, &mi)
		}
	}
	if hdrs != nil && cap(spare) >= fieldRoom(fl.n) {
		// In the shared array: the response's fields go after these, so
		// an append to ReqHeaders (trailers) must not reach them.
		spare = spare[len(hdrs):]
		hdrs = hdrs[:len(hdrs):len(hdrs)]
	}
	call.ReqHeaders = hdrs
	c.fillTarget(call, &mi)
	call.UserAgent = mi.ua
	call.ReqBody.ContentType = mi.ctype
	call.ReqBody.ContentEncoding = mi.cenc
	c.principal(call, &mi)
	c.enqueue(call, spare)
	h.call = call
	h.body = &call.ReqBody
	h.noStore = false

	switch {
	case method == "CONNECT":
		// The tunnel's bytes are classified when they come.
		c.endMessage(h, ts)
		h.st = stTunnel
	case mi.teSeen:
		if mi.clSeen {
			call.Flags |= model.FlagAmbiguousLength
			c.p.count(ReasonAmbiguousLength)
		}
		if !mi.chunked {
			// RFC 9112 §6.3(4): a request whose TE does not end in chunked
			// has no determinable length: the server must reject and close.
			// (Unless the head was cut: its last coding may be lost.)
			if !h.partial {
				c.p.count(ReasonBadContentLength)
			}
			c.endMessage(h, ts)
			c.enterResync(h, false)
			return
		}
		h.st = stChunkSize
		h.chunkLine = 0
	case mi.clBad || mi.clDiff:
		c.badLength(call, &mi)
		// §6.3(5): unrecoverable framing error; we cannot know where the
		// next request starts, so look for one.
		c.endMessage(h, ts)
		c.enterResync(h, false)
	case mi.clSeen && mi.cl > 0:
		c.startCL(h, mi.cl)
	default:
		c.endMessage(h, ts)
	}
}

// wantSave reports whether a request whose field section missed the entry
// (raw is its cacheable bytes' length) should replace it. Only a section
// that then parses without error is stored (errors are counted per
// message, so such a section must be parsed every time).
//
// An entry is replaced after 2, 4, 8, ... misses in a row (the request
// that filled an empty entry is not one), not at every miss: a client
// alternating a repeated GET with POSTs (whose Content-Length varies)
// keeps hitting on the GET, and one sending a unique field every time (a
// request id) stops paying for a copy that never hits (saving was 7% of
// BenchmarkParseVarying when done at every miss).
func (e *reqSection) wantSave(raw int) bool {
	if e.ok {
		e.misses++
		if e.misses < 2 || e.misses&(e.misses-1) != 0 {
			return false
		}
	}
	return raw <= maxReqSec // else the entry held stays right for its own bytes
}

// store fills the entry with a request's parsed fields and what they said.
// The fields point into a copy of the section (onRequest parses a clone
// when it is to be saved), never into the request's block: that block may
// carry a Content-Length body of up to MaxBody (onHead), which the entry
// would keep alive for the connection's life, and with
// Config.RecycleStrings its memory is reused once its Call is recycled,
// while Calls that reuse the fields live on.
func (e *reqSection) store(rx *reqExtra, hdrs model.Headers, mi *msgInfo) {
	e.raw = append(e.raw[:0], rx.raw...)
	clear(e.hdrs) // drop references to older strings
	e.hdrs = append(e.hdrs[:0], hdrs...)
	e.mi = *mi
	if rx.auth != "" {
		e.mi.auth = "" // the credential was cut from the section: the caller's is used
	}
	e.ok = true
}

// badLength counts a Content-Length that is malformed or, in several
// fields, disagrees with itself; the disagreement is flagged on the call.
func (c *Conn) badLength(call *model.Call, mi *msgInfo) {
	if mi.clDiff {
		call.Flags |= model.FlagAmbiguousLength
		c.p.count(ReasonAmbiguousLength)
	} else {
		c.p.count(ReasonBadContentLength)
	}
}

func (c *Conn) startCL(h *half, n int64) {
	h.st = stBodyCL
	h.rem = n
	// A cut head (h.partial) ends at once: its body never arrives.
	if n <= int64(c.p.cfg.MaxBody) && h.body != nil && !c.p.cfg.SkipBodies && !h.partial {
		// Known and small: allocate exactly once, owned by the Call.
		if int64(cap(h.bodyHint)) == n {
			h.body.Data = h.bodyHint
		} else {
			h.body.Data = c.bytesFor(h.call, int(n))
		}
	}
	h.bodyHint = nil
}

// fillTarget sets Host, Path and Query from the request-target and Host.
func (c *Conn) fillTarget(call *model.Call, mi *msgInfo) {
	uri := call.URI
	host := mi.host
	switch {
	case call.Method == "CONNECT" && uri != "" && uri[0] != '/':
		// authority-form
		if host == "" {
			host = uri
		}
	case uri == "*":
		call.Path = "*"
	case uri != "" && uri[0] != '/':
		// absolute-form: RFC 9112 §3.2.2 says the target's authority wins
		// over the Host header.
		if i := strings.Index(uri, "://"); i > 0 {
			rest := uri[i+3:]
			j := strings.IndexAny(rest, "/?#")
			auth := rest
			pathq := ""
			if j >= 0 {
				auth, pathq = rest[:j], rest[j:]
			}
			if k := strings.LastIndexByte(auth, '@'); k >= 0 {
				auth = auth[k+1:]
			}
			if auth != "" {
				host = auth
			}
			if pathq == "" || pathq[0] != '/' {
				pathq = "/" + pathq
			}
			c.splitPathQuery(call, pathq)
		} else {
			c.splitPathQuery(call, uri)
		}
	default:
		c.splitPathQuery(call, uri)
	}
	call.Host = model.NormHost(host)
}

func (c *Conn) splitPathQuery(call *model.Call, u string) {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		call.Path, call.Query = u[:i], u[i+1:]
		return
	}
	call.Path = u
}

// enqueue adds a request waiting for its response, bounding the queue.
func (c *Conn) enqueue(call *model.Call, spare []model.Header) {
	waiting := 0
	for i := range c.q {
		if !c.q[i].respDone {
			waiting++
		}
	}
	if waiting >= c.p.cfg.MaxPipeline {
		c.p.count(ReasonPipelineOverflow)
		rs := c.respHalf()
		for i := range c.q {
			t := &c.q[i]
			if !t.respDone && t.call != rs.call {
				t.call.Flags |= model.FlagNoResponse
				t.respDone = true
				break
			}
		}
		c.flush()
	}
	c.q = append(c.q, txn{call: call, spare: spare})
}

func (c *Conn) onResponse(h *half, start, rest string, fl fieldLines, ts time.Time) {
	codeS, reason := start[h.sl[1]:h.sl[2]], start[h.sl[3]:] // split by startLineOK
	code, numeric := threeDigits(codeS)
	var mi msgInfo
	var flags model.CallFlags
	if h.partial {
		flags = model.FlagRespGap
	}

	// Interim responses (1xx but 101): not final, recorded on the waiting
	// request. A 101 goes on as a final response; the switch below decides
	// whether it switches protocols.
	waiting := c.awaiting(0)
	if numeric && code >= 100 && code < 200 && code != 101 {
		// The fields are parsed for their error counts only.
		scratch := c.parseFields(rest, fl, c.p.scratch, &mi, false, &flags)
		clear(scratch) // drop references to the block
		if c.p.mem != nil {
			c.p.mem.dropPending() // nothing keeps the block
		}
		c.p.st.interim.Add(1)
		if waiting != nil && !h.resynced && len(waiting.call.Interim) < 16 {
			waiting.call.Interim = append(waiting.call.Interim, code)
			waiting.call.Flags |= model.FlagInterim | flags&model.FlagRespGap
		}
		h.st = stStart
		return
	}
	c.p.st.responses.Add(1)
	var call *model.Call
	var spare []model.Header
	if h.resynced {
		call = c.pairAfterResync(h.msgTS, h.lostStart)
		h.resynced, h.lostStart = false, false
		if t := c.findTxn(call); t != nil {
			spare, t.spare = t.spare, nil
		}
	} else if t := waiting; t != nil {
		call = t.call
		spare, t.spare = t.spare, nil
		if c.awaiting(1) != nil {
			c.pipelined = true
		}
	}
	if call == nil {
		call, spare = c.newCall(fieldRoom(fl.n))
		call.Flags |= model.FlagNoRequest
		call.TS = h.msgTS
		c.q = append(c.q, txn{call: call, reqDone: true})
	}
	c.holdBlock(call)
	hdrs := c.parseFields(rest, fl, spare, &mi, false, &flags)
	c.respFields = uint8(min(len(hdrs), 63))
	call.Flags |= flags
	call.RespTS = h.msgTS
	call.EndTS = ts
	if numeric {
		call.Status = code
		call.StatusText = reason
	} else {
		// Not three digits ("2XX"): kept as sent, Status 0; the message is
		// still framed as a final response.
		call.StatusText = codeS
	}
	call.RespHeaders = hdrs
	call.RespBody.ContentType = mi.ctype
	call.RespBody.ContentEncoding = mi.cenc
	h.call = call
	h.body = &call.RespBody
	h.noStore = false

	switch {
	// A 101 is only a protocol switch when the request asked for one (an
	// unsolicited 101 is an evasion trick; it is read as a final response).
	case numeric && code == 101 && call.ReqHeaders.Has("Upgrade"):
		call.Flags |= model.FlagUpgrade
		c.p.st.upgrades.Add(1)
		c.endMessage(h, ts)
		rq := c.reqHalf()
		if rq.call != nil {
			c.endMessage(rq, ts)
		}
		// Whatever follows is another protocol (h2c, websocket).
		h.st, rq.st = stDead, stDead
		return
	case call.Method == "CONNECT" && numeric && code >= 200 && code < 300:
		call.Flags |= model.FlagConnect
		c.p.st.tunnels.Add(1)
		c.endMessage(h, ts)
		if rq := c.reqHalf(); rq.st == stDead {
			h.st = stDead
		} else {
			h.st = stTunnel
		}
		return
	case call.Method == "HEAD" || (numeric && ((code < 200 && code != 101) || code == 204 || code == 304)):
		c.endMessage(h, ts)
	case mi.teSeen:
		if mi.clSeen {
			call.Flags |= model.FlagAmbiguousLength
			c.p.count(ReasonAmbiguousLength)
		}
		if mi.chunked {
			h.st = stChunkSize
			h.chunkLine = 0
		} else {
			h.st = stBodyClose
		}
	case mi.clBad || mi.clDiff:
		c.badLength(call, &mi)
		// §6.3(5) for responses: read until close.
		h.st = stBodyClose
	case mi.clSeen:
		if mi.cl == 0 {
			c.endMessage(h, ts)
		} else {
			c.startCL(h, mi.cl)
		}
	default:
		h.st = stBodyClose
	}
}

// pairAfterResync picks the request a response found after a resync
// answers. Responses lost in the hole leave requests unanswered; which ones
// is guessed from the data:
//   - A response cannot start before its request: only requests with
//     TS <= the response's first byte are candidates.
//   - On a connection never seen pipelining, a client sends the next
//     request only after the previous response, so the newest candidate is
//     the one answered and older ones lost their responses in the hole.
//   - On a pipelining connection, FIFO holds; skip one request when the hole
//     certainly swallowed the start of a response (lostStart).
//
// Skipped requests are marked FlagNoResponse|FlagRespGap.
func (c *Conn) pairAfterResync(ts time.Time, lostStart bool) *model.Call {
	cand := func(t *txn) bool {
		return !t.respDone && !t.call.TS.After(ts) && t.call != c.respHalf().call
	}
	n, first, second, last := 0, -1, -1, -1
	for i := range c.q {
		if !cand(&c.q[i]) {
			continue
		}
		switch n {
		case 0:
			first = i
		case 1:
			second = i
		}
		last = i
		n++
	}
	if n == 0 {
		return nil
	}
	pick := last
	if c.pipelined {
		pick = first
		if lostStart && n > 1 {
			pick = second
		}
	}
	for i := range c.q[:pick] {
		if t := &c.q[i]; cand(t) {
			t.call.Flags |= model.FlagNoResponse | model.FlagRespGap
			t.respDone = true
		}
	}
	return c.q[pick].call
}

// parseFields parses header lines (each ending in LF, the block ending with
// a blank line). obs-fold continuation lines are joined to the previous raw
// line with one space before the name/value split, as RFC 9112 §5.2 allows a
// recipient to do; that also reads "Transfer-Encoding\n :chunked" the way
// the servers that accept it do. Sensitive values are redacted.
//
// fl says where the lines end; the fields go into dst when it has room for
// fieldRoom(fl.n) of them, else into a new slice.
func (c *Conn) parseFields(rest string, fl fieldLines, dst []model.Header, mi *msgInfo, isReq bool, flags *model.CallFlags) model.Headers {
	n := fl.n
	if n == 0 {
		return nil
	}
	var hdrs model.Headers
	if need := fieldRoom(n); cap(dst) >= need {
		hdrs = dst[:0:need]
	} else {
		hdrs = make(model.Headers, 0, need)
	}
	var cur string
	have := false
	pos, k := fl.off, 0 // block offset of rest; next entry of fl.ends
	for len(rest) > 0 {
		var i int
		if fl.ends != nil {
			i = len(rest)
			if k < len(fl.ends) {
				i = int(fl.ends[k]) - pos
				k++
			}
		} else if i = strings.IndexByte(rest, '\n'); i < 0 {
			i = len(rest)
		}
		line := trimCR(rest[:i])
		if i < len(rest) {
			rest = rest[i+1:]
			pos += i + 1
		} else {
			rest = ""
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if have {
				cur = cur + " " + trimOWS(line)
			} else {
				*flags |= model.FlagBadHeader
				c.p.count(ReasonBadHeader)
			}
			continue
		}
		if have {
			hdrs = c.addField(hdrs, cur, mi, isReq, flags)
		}
		if len(line) == 0 {
			have = false
			break
		}
		cur, have = line, true
	}
	if have {
		hdrs = c.addField(hdrs, cur, mi, isReq, flags)
	}
	return hdrs
}

const redacted = "[redacted]"

func (c *Conn) addField(hdrs model.Headers, line string, mi *msgInfo, isReq bool, flags *model.CallFlags) model.Headers {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		*flags |= model.FlagBadHeader
		c.p.count(ReasonBadHeader)
		return hdrs
	}
	name := trimOWS(line[:i])
	val := trimOWS(line[i+1:])
	if name == "" {
		*flags |= model.FlagBadHeader
		c.p.count(ReasonBadHeader)
		return hdrs
	}
	raw := val // val may be redacted below; an API key's principal hashes this
	// Most senders use the canonical spelling: an exact compare with a
	// constant (a few word loads, ~1 ns) goes before EqualFold (~9 ns on a
	// 14-byte name).
	switch len(name) {
	case 4:
		if isReq && (name == "Host" || strings.EqualFold(name, "Host")) && mi.host == "" {
			mi.host = val
		}
	case 6:
		if isReq && (name == "Cookie" || strings.EqualFold(name, "Cookie")) {
			if mi.ncookie < len(mi.cookies) {
				mi.cookies[mi.ncookie] = val
				mi.ncookie++
			}
			val = redacted
		}
	case 10:
		if isReq && (name == "User-Agent" || strings.EqualFold(name, "User-Agent")) && mi.ua == "" {
			mi.ua = val
		} else if !isReq && (name == "Set-Cookie" || strings.EqualFold(name, "Set-Cookie")) {
			val = redactSetCookie(val)
		}
	case 12:
		if (name == "Content-Type" || strings.EqualFold(name, "Content-Type")) && mi.ctype == "" {
			mi.ctype = val
		}
	case 13:
		if isReq && (name == "Authorization" || strings.EqualFold(name, "Authorization")) {
			if mi.auth == "" {
				mi.auth = val
			}
			val = redactAuth(val)
		}
	case 14:
		if name == "Content-Length" || strings.EqualFold(name, "Content-Length") {
			parseCL(val, mi)
		}
	case 15:
		if isReq && (name == "X-Forwarded-For" || strings.EqualFold(name, "X-Forwarded-For")) {
			mi.xff = true
		}
	case 16:
		if (name == "Content-Encoding" || strings.EqualFold(name, "Content-Encoding")) && mi.cenc == "" {
			mi.cenc = val
		}
	case 17:
		if name == "Transfer-Encoding" || strings.EqualFold(name, "Transfer-Encoding") {
			mi.teSeen = true
			// The last coding decides (§6.3(4)); later headers append.
			v := strings.TrimSpace(val)
			if k := strings.LastIndexByte(v, ','); k >= 0 {
				v = strings.TrimSpace(v[k+1:])
			}
			if v != "" {
				mi.chunked = strings.EqualFold(v, "chunked")
			}
		}
	case 19:
		if name == "Proxy-Authorization" || strings.EqualFold(name, "Proxy-Authorization") {
			val = redactAuth(val)
		}
	}
	// A length mask rules out nearly all names before any compare.
	if isReq && len(name) < 64 && c.p.apiKeyLens&(1<<uint(len(name))) != 0 {
		if lowerKey(name, c.p.apiKeyHeaderByLen[len(name)]) {
			if mi.apiKeyName == "" && raw != "" {
				mi.apiKeyName, mi.apiKeyVal = name, raw
			}
			val = redacted
		}
	}
	return append(hdrs, model.Header{Name: name, Value: val})
}

// parseCL folds one Content-Length field (possibly a list "5, 5") into mi.
func parseCL(v string, mi *msgInfo) {
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, ",")
		part = strings.TrimSpace(part)
		if part == "" || len(part) > 18 {
			mi.clBad = true
			continue
		}
		var n int64
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				mi.clBad = true
				n = -1
				break
			}
			n = n*10 + int64(part[i]-'0')
		}
		if n < 0 {
			continue
		}
		if mi.clSeen && n != mi.cl {
			mi.clDiff = true
		}
		mi.cl, mi.clSeen = n, true
	}
}

// redactAuth keeps the scheme word only.
func redactAuth(v string) string {
	sp := indexSpaceTab(v)
	if sp < 0 {
		return redacted
	}
	scheme := v[:sp]
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return "Bearer " + redacted
	case strings.EqualFold(scheme, "Basic"):
		return "Basic " + redacted
	}
	return scheme + " " + redacted
}

// redactSetCookie keeps the cookie name and attributes, hides the value.
func redactSetCookie(v string) string {
	eq := strings.IndexByte(v, '=')
	if eq < 0 {
		return redacted
	}
	end := strings.IndexByte(v, ';')
	if end < 0 {
		return v[:eq+1] + redacted
	}
	if end < eq {
		return redacted
	}
	return v[:eq+1] + redacted + v[end:]
}

// indexSpaceTab is strings.IndexAny(s, " \t"), which builds an ASCII set per
// call: 4 ns against 12 ns on a Bearer Authorization value.
func indexSpaceTab[T ~string | ~[]byte](s T) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			return i
		}
	}
	return -1
}

// trimOWS strips spaces and tabs; strings.Trim with a cutset measured ~3x
// slower on the header hot path.
func trimOWS[T ~string | ~[]byte](s T) T {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}
