package parser

import (
	"bytes"
	"math"
	"net/netip"
	"time"

	"github.com/apisensor/apisensor/model"
)

// state is where one direction's parser is in the message grammar.
type state uint8

const (
	stStart     state = iota // between messages: skip stray CR/LF, then stHead
	stHead                   // accumulating a start line + header block
	stBodyCL                 // Content-Length body: rem bytes left
	stChunkSize              // chunk-size line (with extensions)
	stChunkData              // chunk data: rem bytes left
	stChunkCRLF              // CRLF after chunk data
	stTrailer                // trailer section after the last chunk
	stBodyClose              // close-delimited body (responses, HTTP/0.9)
	stResync                 // discarding until a plausible message start at a line start
	stTunnel                 // after CONNECT: classify the first tunnelled bytes
	stRespProbe              // reply to HTTP/0.9: status line or raw bytes?
	stDead                   // no more parsing on this direction
)

// Probe strictness for a start line found while resyncing.
const (
	probeNone  = iota // normal message boundary
	probeLine         // at a line start in resync: request needs "HTTP/1.x"
	probeSplit        // first byte after a gap (maybe mid-line): also a well-known method
)

// maxChunkLine bounds a chunk-size line including extensions.
const maxChunkLine = 4096

// half is the parser state of one direction.
type half struct {
	dir   model.Direction
	isReq bool
	st    state

	// Undecided prefix: the first bytes of a direction (or of a tunnel) are
	// held here until they can be classified as request, response or neither.
	pre   [32]byte
	npre  int
	preTS time.Time
	seen  bool // classified at least once

	// Header/trailer block accumulation when a block spans Data calls.
	buf       []byte
	lineStart int  // offset of the current line in the block being scanned
	lines     int  // complete lines seen in the block
	probe     int  // probe* strictness of the block being accumulated
	v09       bool // start line had no HTTP version (GET only)
	partial   bool // the block being parsed was cut short (finishPartialHead)
	// Offsets of the start line's parts found when head validated it
	// (requestLineIdx or statusLineIdx results), so onHead does not split
	// the line again.
	sl [5]int
	// bodyHint is room for a Content-Length body allocated together with the
	// header block's string (onHead); startCL takes it when the size matches.
	bodyHint  []byte
	msgTS     time.Time
	lastTS    time.Time
	chunkLine int // bytes of the current chunk-size line seen

	// The message being parsed. call is nil when its bytes are being counted
	// but nothing is kept (call already emitted, or a dropped message).
	call     *model.Call
	body     *model.Body
	bodyBuf  *[]byte // pooled buffer for bodies of unknown length
	rem      int64
	probed09 bool // the reply to HTTP/0.9 was classified once
	noStore  bool // a gap punched a hole: keep counting, stop storing

	// Resync bookkeeping.
	atLineStart bool
	resynced    bool // next response found must be paired with care
	lostStart   bool // a gap certainly swallowed the start of a message
}

type txn struct {
	call              *model.Call
	spare             []model.Header // room for the response's fields, allocated with call
	reqDone, respDone bool
}

// Conn is the parser of one TCP connection. It implements
// reassembly.Stream. Not safe for concurrent use; all calls for one Conn
// come from the Parser's goroutine.
type Conn struct {
	p         *Parser
	meta      model.ConnMeta
	h         [2]half // indexed by the Direction bytes arrive on
	swapped   bool    // the reassembler's client is really the server
	decided   bool    // roles fixed
	closed    bool
	abandoned bool // parsing stopped (stop): not HTTP, or HTTP/2
	pipelined bool // a response once started with >1 request waiting
	q         []txn
	// Fields of the last final response: the room the next request's Call
	// reserves for its response (callSlab.alloc); 0 before the first one.
	respFields uint8

	reqSec reqSection // the last request's field section (onRequest)

	// Per-connection caches: a client reuses one token and one address.
	ipAddr   netip.Addr
	ipStr    string
	macIn    string
	macOut   string
	jwtCache struct {
		token string
		info  jwtInfo
		ok    bool // token decoded as a JWT
	}
}

func (c *Conn) reqHalf() *half {
	if c.h[0].isReq {
		return &c.h[0]
	}
	return &c.h[1]
}

func (c *Conn) respHalf() *half {
	if c.h[0].isReq {
		return &c.h[1]
	}
	return &c.h[0]
}

func (c *Conn) other(h *half) *half { return &c.h[(h.dir^1)&1] }

// Data feeds the next in-order bytes of one direction. b is not retained.
func (c *Conn) Data(dir model.Direction, b []byte, ts time.Time) {
	if c.closed || c.abandoned || len(b) == 0 {
		return
	}
	h := &c.h[dir&1]
	if h.st == stDead {
		return
	}
	if !h.seen || h.st == stTunnel {
		if !c.classify(h, b, ts) {
			return
		}
		if h.st == stDead || c.abandoned {
			return
		}
		h.lastTS = ts
		if h.npre > 0 {
			n := h.npre
			h.npre = 0
			// Copy out: feed may reuse nothing of pre, but keep it simple and
			// safe against a future reuse.
			var tmp [32]byte
			copy(tmp[:], h.pre[:n])
			c.feed(h, tmp[:n], h.preTS)
		}
	}
	c.feed(h, b, ts)
}

// kind is what the first bytes of a direction look like.
type kind uint8

const (
	kUnknown kind = iota // need more bytes
	kReq
	kResp
	kNone
	kH2 // the HTTP/2 client connection preface
)

// classify reports whether feeding may proceed; it buffers an undecided
// prefix, fixes roles (swapping them when the bytes say the reassembler
// guessed wrong) and abandons non-HTTP directions.
func (c *Conn) classify(h *half, b []byte, ts time.Time) bool {
	var tmp [32]byte
	n := copy(tmp[:], h.pre[:h.npre])
	n += copy(tmp[n:], b)
	k := classifyStart(tmp[:n])
	if k == kUnknown && n == len(tmp) {
		k = kNone
	}
	if k == kUnknown {
		if h.npre == 0 {
			h.preTS = ts
		}
		h.npre += copy(h.pre[h.npre:], b)
		return false
	}
	if h.st == stTunnel {
		want := kResp
		if h.isReq {
			want = kReq
		}
		if k != want {
			// TLS or another protocol inside the tunnel: stop, and stop the
			// other side too once it is also in the tunnel.
			h.st = stDead
			h.npre = 0
			if o := c.other(h); o.st == stTunnel {
				o.st = stDead
			}
			return false
		}
		h.st = stStart
		return true
	}
	h.seen = true
	o := c.other(h)
	if k == kH2 {
		// HTTP/2 is not parsed: stop here, without calling its preface
		// a bad request line.
		c.p.st.http2.Add(1)
		c.stop()
		return false
	}
	if k == kNone {
		// A response role facing an outstanding request may legitimately
		// start with raw bytes (HTTP/0.9 reply).
		if !h.isReq && c.decided && (len(c.q) > 0 || c.reqHalf().v09Pending()) {
			return true
		}
		c.p.st.abandoned.Add(1)
		c.stop()
		return false
	}
	if !c.decided {
		isReq := k == kReq
		if isReq != h.isReq && (!o.seen || o.isReq == h.isReq) {
			h.isReq, o.isReq = o.isReq, h.isReq
			c.swapped = !c.swapped
		}
		c.decided = true
	}
	return true
}

// stop ends parsing of the connection: not HTTP, or HTTP/2. Data and feed
// look at c.abandoned first, so it runs once.
func (c *Conn) stop() {
	c.abandoned = true
	c.h[0].st, c.h[1].st = stDead, stDead
	// Requests already parsed (a client that spoke HTTP to a server that
	// does not) are still transactions.
	c.finishAll(time.Time{})
}

// h2Preface starts the client's side of an HTTP/2 connection (RFC 9113
// §3.4); its first line is all it takes to tell it from HTTP/1.x. The
// server's side starts with a SETTINGS frame (classifyStart).
const h2Preface = "PRI * HTTP/2.0\r\n"

// classifyStart looks at the first bytes of a message stream.
func classifyStart(p []byte) kind {
	i := 0
	for i < len(p) && (p[i] == '\r' || p[i] == '\n') {
		i++
	}
	p = p[i:]
	if len(p) == 0 {
		return kUnknown
	}
	if len(p) >= len(httpPrefix) && string(p[:len(httpPrefix)]) == httpPrefix {
		return kResp
	}
	if n := min(len(p), len(h2Preface)); string(p[:n]) == h2Preface[:n] {
		if n == len(h2Preface) {
			return kH2
		}
		return kUnknown
	}
	if p[0] == 0 {
		// A server may send its SETTINGS before the client's preface
		// arrives (grpc-go does): a 9-byte frame header, length a
		// multiple of 6 (the first length byte is 0 below 64 KiB), type
		// 4, no flags, stream 0.
		if len(p) < 9 {
			return kUnknown
		}
		if p[3] == 4 && string(p[4:9]) == "\x00\x00\x00\x00\x00" && (int(p[1])<<8|int(p[2]))%6 == 0 {
			return kH2
		}
		return kNone
	}
	maybeResp := plausibleStart(p, false) // a prefix of "HTTP/1."
	for j := 0; j < len(p); j++ {
		ch := p[j]
		if ch == ' ' {
			if j == 0 {
				return kNone
			}
			return kReq
		}
		if !isMethodChar(ch) {
			if maybeResp {
				return kUnknown
			}
			return kNone
		}
	}
	return kUnknown
}

// feed runs the state machine over b.
func (c *Conn) feed(h *half, b []byte, ts time.Time) {
	h.lastTS = ts
	for len(b) > 0 && !c.closed && !c.abandoned {
		switch h.st {
		case stDead, stTunnel:
			if h.st == stTunnel {
				// Bytes after CONNECT in the same call: classify them.
				if !c.classify(h, b, ts) || h.st == stDead {
					return
				}
				continue
			}
			return
		case stRespProbe:
			b = c.respProbe(h, b, ts)
		case stStart:
			if !h.isReq && c.startResponse(h, ts) {
				continue
			}
			i := 0
			for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
				i++
			}
			b = b[i:]
			if len(b) == 0 {
				return
			}
			c.beginHead(h, ts, probeNone)
		case stHead:
			b = b[c.head(h, b, ts):]
		case stBodyCL:
			if b = c.bodyBytes(h, b); h.rem == 0 {
				c.endMessage(h, ts)
			}
		case stChunkSize:
			b = b[c.chunkSize(h, b, ts):]
		case stChunkData:
			if b = c.bodyBytes(h, b); h.rem == 0 {
				h.st = stChunkCRLF
				h.chunkLine = 0
			}
		case stChunkCRLF:
			// Expect CRLF (or a bare LF); anything else is a bad chunk.
			switch b[0] {
			case '\r':
				if h.chunkLine > 0 {
					c.badChunk(h, ts)
					continue
				}
				h.chunkLine = 1
				b = b[1:]
			case '\n':
				b = b[1:]
				h.st = stChunkSize
				h.chunkLine = 0
			default:
				c.badChunk(h, ts)
			}
		case stTrailer:
			b = b[c.head(h, b, ts):]
		case stBodyClose:
			c.bodyWrite(h, b)
			return
		case stResync:
			b = b[c.resync(h, b, ts):]
		}
	}
}

// v09Pending reports whether the request side holds a versionless GET line
// with nothing after it: HTTP/0.9 if the server answers now.
func (h *half) v09Pending() bool {
	if !h.isReq || h.st != stHead || h.probe != probeNone || len(h.buf) == 0 {
		return false
	}
	if h.lines == 1 {
		return h.v09 && len(h.buf) == h.lineStart
	}
	return h.lines == 0 && isV09Line(h.buf)
}

// startResponse notices the reply to an HTTP/0.9 request, which may be raw
// bytes instead of a status line; it returns true when it switched state.
func (c *Conn) startResponse(h *half, ts time.Time) bool {
	rq := c.reqHalf()
	if rq.v09Pending() {
		c.finishV09Request(rq)
	}
	t := c.awaiting(0)
	if t == nil || t.call.Proto != "HTTP/0.9" || h.probed09 {
		return false
	}
	h.probed09 = true
	h.st = stRespProbe
	h.npre = 0
	h.preTS = ts
	return true
}

// respProbe holds the first bytes of a reply to HTTP/0.9 until they show
// whether it starts with "HTTP/1." (then it is parsed as a response) or not
// (then everything to close is the body). It returns the unconsumed rest.
func (c *Conn) respProbe(h *half, b []byte, ts time.Time) []byte {
	take := min(len(httpPrefix)-h.npre, len(b))
	copy(h.pre[h.npre:], b[:take])
	n := h.npre + take
	p := h.pre[:n]
	if n < len(httpPrefix) && string(p) == httpPrefix[:n] {
		h.npre = n
		return nil // undecided
	}
	var tmp [len(httpPrefix)]byte
	k := copy(tmp[:], h.pre[:h.npre])
	h.npre = 0
	if string(p) == httpPrefix[:min(n, len(httpPrefix))] {
		h.st = stStart
		c.feed(h, tmp[:k], h.preTS)
		return b
	}
	t := c.awaiting(0)
	if t == nil {
		h.st = stStart
		return b
	}
	h.call = t.call
	h.call.RespTS = h.preTS
	h.body = &h.call.RespBody
	h.st = stBodyClose
	c.bodyWrite(h, tmp[:k])
	return b
}

// awaiting returns the i-th transaction still waiting for its response.
func (c *Conn) awaiting(i int) *txn {
	for k := range c.q {
		if !c.q[k].respDone {
			if i == 0 {
				return &c.q[k]
			}
			i--
		}
	}
	return nil
}

func (c *Conn) findTxn(call *model.Call) *txn {
	for k := range c.q {
		if c.q[k].call == call {
			return &c.q[k]
		}
	}
	return nil
}

func (c *Conn) beginHead(h *half, ts time.Time, probe int) {
	h.st = stHead
	h.buf = h.buf[:0]
	h.lineStart = 0
	h.lines = 0
	h.v09 = false
	h.probe = probe
	h.msgTS = ts
}

// head accumulates a header block (or a trailer block in stTrailer) and
// returns how many bytes of b it consumed. When the whole block is inside b
// it is parsed in place without copying.
func (c *Conn) head(h *half, b []byte, ts time.Time) int {
	max := c.p.cfg.MaxHeaderBytes
	var data []byte
	from, base := 0, 0
	// A block parsed in place has every LF offset recorded here, so
	// parseFields splits lines without scanning the block a second time.
	var ends []int32
	if len(h.buf) == 0 {
		data = b
		if len(b) <= math.MaxInt32 {
			ends = c.p.ends[:0]
		}
	} else {
		base = len(h.buf)
		from = base
		room := max + 1 - base
		take := b
		if room < len(take) {
			take = take[:room]
		}
		h.buf = append(h.buf, take...)
		data = h.buf
	}
	for {
		j := bytes.IndexByte(data[from:], '\n')
		if j < 0 {
			break
		}
		j += from
		if j+1 > max {
			break // block too large: handled below
		}
		if ends != nil {
			if len(ends) < cap(ends) {
				ends = append(ends, int32(j))
			} else {
				ends = nil // more lines than the scratch holds: rescan
			}
		}
		line := data[h.lineStart:j]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if h.lines == 0 && h.st == stHead {
			if !c.startLineOK(h, line) {
				return c.badStart(h, data, base, j+1)
			}
		} else if len(line) == 0 {
			end := j + 1
			if base > 0 {
				// The block spanned Data calls: find its LFs once here, so
				// it is parsed like one found in place (body hint, auth cut,
				// section reuse): BenchmarkParseSplit 4 -> 3 allocs/op.
				ends = c.p.lineEnds(data[:end])
			}
			if h.st == stTrailer {
				c.trailers(h, data[:end], ends, ts)
			} else {
				c.onHead(h, data[:end], ends, ts)
			}
			h.buf = h.buf[:0]
			return end - base
		}
		h.lines++
		h.lineStart = j + 1
		from = j + 1
	}
	// Incomplete block. Only the first max+1 bytes are judged, as many as
	// a block arriving in pieces has buffered when it hits the cap: else a
	// long first line with a bad byte past the cap was a bad request line
	// when it came whole and a too-large header when it came in pieces.
	if h.lines == 0 && h.st == stHead && !plausibleStart(data[h.lineStart:min(len(data), max+1)], h.isReq) {
		return c.badStart(h, data, base, len(data))
	}
	if len(data) > max {
		c.p.count(ReasonHeaderTooLarge)
		c.dropMessage(h, ts, model.FlagBadHeader)
		c.enterResync(h, false)
		h.buf = h.buf[:0]
		// Consume exactly max+1 bytes of the block whatever the split, so
		// the resync starts at the same byte.
		return min(max+1-base, len(b))
	}
	if len(h.buf) == 0 {
		h.buf = append(h.buf, b...)
	}
	return len(b)
}

// badStart handles a start line that is not one: resync, counting an error
// unless we were already probing inside a resync. data[:end] is the rejected
// text so far (end is past the LF when the line was complete); data[:base]
// came from earlier calls. It returns how many bytes of the current call's
// input were consumed.
func (c *Conn) badStart(h *half, data []byte, base, end int) int {
	if h.probe == probeNone {
		if h.isReq {
			c.p.count(ReasonBadRequestLine)
		} else {
			c.p.count(ReasonBadStatusLine)
		}
		c.p.st.resyncs.Add(1)
	}
	if !h.isReq {
		// Responses are searched for anywhere (a status line follows a body
		// with no line break). "HTTP/1." has no self-overlap, so a new match
		// can only start where the candidate stopped matching; consuming
		// exactly that much makes the outcome independent of how the bytes
		// were split.
		k := 0
		for k < len(httpPrefix) && k < end && data[k] == httpPrefix[k] {
			k++
		}
		if k == 0 {
			k = 1
		}
		if k > end {
			k = end
		}
		end = k
	}
	consumed := end - base
	var replay []byte
	if consumed < 0 {
		// Bytes from earlier calls after the rejected prefix may hold the
		// real message start: scan them again (rare path, so a copy).
		replay = append([]byte(nil), data[end:base]...)
		consumed = 0
	}
	c.p.st.skipped.Add(uint64(end))
	h.buf = h.buf[:0]
	h.st = stResync
	h.probe = probeLine
	h.atLineStart = h.isReq && end > 0 && data[end-1] == '\n'
	if len(replay) > 0 {
		c.feed(h, replay, h.msgTS)
	}
	return consumed
}

// enterResync makes the direction discard bytes until a plausible message
// start. afterGap allows a start right at the next byte (strictly checked).
func (c *Conn) enterResync(h *half, afterGap bool) {
	c.p.st.resyncs.Add(1)
	h.st = stResync
	h.atLineStart = afterGap
	h.buf = h.buf[:0]
	if !h.isReq {
		h.resynced = true
	}
	h.probe = probeLine
	if afterGap {
		h.probe = probeSplit
	}
}

// resync discards bytes up to the next line start and then tries a start
// line there.
func (c *Conn) resync(h *half, b []byte, ts time.Time) int {
	if !h.isReq {
		if i := bytes.Index(b, []byte(httpPrefix)); i >= 0 {
			c.p.st.skipped.Add(uint64(i))
			c.beginHead(h, ts, probeLine)
			return i
		}
		// A status line may start in the last bytes and finish in the next
		// call: hand that suffix to the head accumulator.
		for k := min(len(httpPrefix)-1, len(b)); k > 0; k-- {
			if string(b[len(b)-k:]) == httpPrefix[:k] {
				c.p.st.skipped.Add(uint64(len(b) - k))
				c.beginHead(h, ts, probeLine)
				return len(b) - k
			}
		}
		c.p.st.skipped.Add(uint64(len(b)))
		return len(b)
	}
	if h.atLineStart {
		probe := probeLine
		if h.probe == probeSplit {
			probe = probeSplit
		}
		h.atLineStart = false
		if b[0] == '\r' || b[0] == '\n' {
			// Blank line: still at a line start afterwards.
			h.atLineStart = b[0] == '\n' || (len(b) > 1 && b[1] == '\n')
			n := 1
			if b[0] == '\r' && len(b) > 1 && b[1] == '\n' {
				n = 2
			}
			c.p.st.skipped.Add(uint64(n))
			if !h.atLineStart {
				h.probe = probeLine
			}
			return n
		}
		c.beginHead(h, ts, probe)
		return 0
	}
	h.probe = probeLine
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		c.p.st.skipped.Add(uint64(len(b)))
		return len(b)
	}
	c.p.st.skipped.Add(uint64(j + 1))
	h.atLineStart = true
	return j + 1
}

// plausibleStart checks an incomplete first line so garbage is rejected
// before MaxHeaderBytes of it are buffered.
func plausibleStart(p []byte, isReq bool) bool {
	if isReq {
		i := 0
		for i < len(p) && isMethodChar(p[i]) {
			i++
		}
		if i > maxMethodLen {
			return false
		}
		if i == len(p) {
			return true
		}
		if i == 0 || p[i] != ' ' {
			return false
		}
		for _, ch := range p[i:] {
			if ch < 0x20 && ch != '\t' && ch != '\r' || ch == 0x7f {
				return false
			}
		}
		return true
	}
	n := len(p)
	if n > len(httpPrefix) {
		n = len(httpPrefix)
	}
	return string(p[:n]) == httpPrefix[:n]
}

// maxMethodLen bounds a method token. The same bound must hold for a
// complete request line (requestLineIdx) and an incomplete one
// (plausibleStart): with only the latter, a 33+-letter "method" was garbage
// when its line arrived in pieces and a request when it arrived whole.
const maxMethodLen = 32

// isMethodChar is stricter than RFC 9110's token: letters, '-' and '_'.
// Every IANA-registered method fits, while text protocols and binary noise
// ("GET%00", numbers) are not mistaken for HTTP. Suricata detects HTTP the
// same way (by method), and the corpus expects "GET%00 /" not to be HTTP.
func isMethodChar(ch byte) bool {
	return ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch == '-' || ch == '_'
}

// dropMessage abandons the message being parsed on h (its start was lost or
// it is malformed). A request whose call exists is finished as it stands.
func (c *Conn) dropMessage(h *half, ts time.Time, flag model.CallFlags) {
	if h.call != nil {
		h.call.Flags |= flag
		c.endMessage(h, ts)
		return
	}
	c.releaseBody(h)
	h.body = nil
}
