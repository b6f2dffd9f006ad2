package parser

import (
	"bytes"
	"strings"
	"time"

	"github.com/apisensor/apisensor/model"
)

// bodyBytes consumes up to h.rem bytes of a length-delimited body (a
// Content-Length body or one chunk) and returns what follows them.
func (c *Conn) bodyBytes(h *half, b []byte) []byte {
	n := min(int64(len(b)), h.rem)
	c.bodyWrite(h, b[:n])
	h.rem -= n
	return b[n:]
}

// bodyWrite counts p into the current body and keeps what fits in MaxBody.
func (c *Conn) bodyWrite(h *half, p []byte) {
	b := h.body
	if b == nil || len(p) == 0 {
		return
	}
	b.Bytes += int64(len(p))
	if h.noStore {
		return
	}
	max := c.p.cfg.MaxBody
	if c.p.cfg.SkipBodies {
		// keep would have run out of room exactly when the body, no gap
		// in it so far (noStore), outgrows MaxBody.
		if b.Bytes > int64(max) {
			c.truncated(h)
		}
		return
	}
	if cap(b.Data) > 0 {
		// Exact-size buffer from a known Content-Length (cap <= MaxBody:
		// startCL and the prescan hint allocate only then).
		c.keep(h, &b.Data, p, cap(b.Data)-len(b.Data))
		return
	}
	if h.bodyBuf == nil {
		if max == 0 {
			c.keep(h, nil, p, 0)
			return
		}
		h.bodyBuf = c.p.bodyPool.Get().(*[]byte)
		*h.bodyBuf = (*h.bodyBuf)[:0]
	}
	c.keep(h, h.bodyBuf, p, max-len(*h.bodyBuf))
}

func (c *Conn) keep(h *half, dst *[]byte, p []byte, room int) {
	if len(p) > room {
		if room > 0 {
			*dst = append(*dst, p[:room]...)
		}
		c.truncated(h)
		return
	}
	*dst = append(*dst, p...)
}

// truncated marks the body on h as cut at MaxBody.
func (c *Conn) truncated(h *half) {
	h.body.Truncated = true
	if h.call != nil {
		if h.isReq {
			h.call.Flags |= model.FlagReqBodyTruncated
		} else {
			h.call.Flags |= model.FlagRespBodyTruncated
		}
	}
}

// finalizeBody moves a pooled body into a right-sized slice the Call owns.
func (c *Conn) finalizeBody(h *half) {
	if h.bodyBuf != nil {
		if h.body != nil && len(*h.bodyBuf) > 0 {
			h.body.Data = append(c.bytesFor(h.call, len(*h.bodyBuf)), (*h.bodyBuf)...)
		}
		c.releaseBody(h)
	}
	if h.body != nil && cap(h.body.Data) > len(h.body.Data) && len(h.body.Data) < int(h.body.Bytes) {
		h.body.Truncated = true
	}
}

func (c *Conn) releaseBody(h *half) {
	if h.bodyBuf != nil {
		*h.bodyBuf = (*h.bodyBuf)[:0]
		c.p.bodyPool.Put(h.bodyBuf)
		h.bodyBuf = nil
	}
}

// endMessage closes the message on h and emits what is complete.
func (c *Conn) endMessage(h *half, ts time.Time) {
	c.finalizeBody(h)
	if call := h.call; call != nil {
		if ts.After(call.EndTS) {
			call.EndTS = ts
		}
		if t := c.findTxn(call); t != nil {
			if h.isReq {
				t.reqDone = true
			} else {
				t.respDone = true
			}
		}
	}
	h.call, h.body = nil, nil
	h.noStore = false
	h.st = stStart
	c.flush()
}

// flush emits finished transactions in request order.
func (c *Conn) flush() {
	n := 0
	for n < len(c.q) && c.q[n].reqDone && c.q[n].respDone {
		c.emit(c.q[n].call)
		c.q[n].call = nil
		n++
	}
	if n > 0 {
		m := copy(c.q, c.q[n:])
		clear(c.q[m:])
		c.q = c.q[:m]
	}
}

func (c *Conn) emit(call *model.Call) {
	for i := range c.h {
		if c.h[i].call == call { // forced out early: stop writing into it
			c.finalizeBody(&c.h[i])
			c.h[i].call, c.h[i].body = nil, nil
		}
	}
	st := &c.p.st
	st.calls.Add(1)
	if call.Flags&model.FlagNoResponse != 0 {
		st.noResponse.Add(1)
	}
	if call.Flags&model.FlagNoRequest != 0 {
		st.noRequest.Add(1)
	}
	c.p.sink.Call(call)
}

// chunkSize reads a chunk-size line and returns the bytes of b consumed.
func (c *Conn) chunkSize(h *half, b []byte, ts time.Time) int {
	j := bytes.IndexByte(b, '\n')
	take := len(b)
	if j >= 0 {
		take = j + 1
	}
	if h.chunkLine+take > maxChunkLine {
		c.badChunk(h, ts)
		return 0
	}
	var line []byte
	if h.chunkLine == 0 && j >= 0 {
		line = b[:j] // whole line in b: parse in place
	} else {
		if h.chunkLine == 0 {
			h.buf = h.buf[:0]
		}
		h.buf = append(h.buf, b[:take]...)
		h.chunkLine += take
		if j < 0 {
			return take
		}
		line = h.buf[:len(h.buf)-1]
	}
	h.chunkLine = 0
	size, ok := parseChunkSize(trimCR(line))
	if !ok {
		c.badChunk(h, ts)
		return take
	}
	if size == 0 {
		h.st = stTrailer
		h.buf = h.buf[:0]
		h.lineStart = 0
		h.lines = 0
		return take
	}
	h.st = stChunkData
	h.rem = size
	return take
}

// parseChunkSize reads hex digits, then optional whitespace and ';'
// extensions (ignored).
func parseChunkSize(line []byte) (int64, bool) {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	var n int64
	d := 0
	for ; i < len(line); i++ {
		ch := line[i]
		var v byte
		switch {
		case ch >= '0' && ch <= '9':
			v = ch - '0'
		case ch >= 'a' && ch <= 'f':
			v = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			v = ch - 'A' + 10
		default:
			goto rest
		}
		if d >= 15 {
			return 0, false
		}
		n = n<<4 | int64(v)
		d++
	}
rest:
	if d == 0 {
		return 0, false
	}
	for ; i < len(line); i++ {
		switch line[i] {
		case ' ', '\t':
		case ';':
			return n, true
		default:
			return 0, false
		}
	}
	return n, true
}

// badChunk ends a message whose chunked framing broke and resyncs.
func (c *Conn) badChunk(h *half, ts time.Time) {
	c.p.count(ReasonBadChunk)
	if h.call != nil {
		h.call.Flags |= model.FlagBadChunk
	}
	if h.body != nil {
		h.body.Truncated = true
	}
	c.endMessage(h, ts)
	c.enterResync(h, false)
}

// trailers appends the trailer fields to the message's headers (after the
// header section, in wire order) and ends the message.
func (c *Conn) trailers(h *half, block []byte, ends []int32, ts time.Time) {
	if h.call != nil && len(block) > 2 {
		var mi msgInfo
		s := string(block)
		fl := fieldLines{ends: ends, n: len(ends)}
		if ends == nil {
			fl.n = strings.Count(s, "\n")
		}
		if h.isReq {
			h.call.ReqHeaders = append(h.call.ReqHeaders, c.parseFields(s, fl, nil, &mi, true, &h.call.Flags)...)
		} else {
			h.call.RespHeaders = append(h.call.RespHeaders, c.parseFields(s, fl, nil, &mi, false, &h.call.Flags)...)
		}
	}
	c.endMessage(h, ts)
}

// finishV09Request turns the buffered "GET /path" into an HTTP/0.9 call.
func (c *Conn) finishV09Request(h *half) {
	s := string(bytes.TrimRight(h.buf, "\r\n"))
	method, target, _, _ := splitRequestLine(s)
	call, _ := c.newCall(0)
	call.TS = h.msgTS
	call.EndTS = h.lastTS
	call.Method = method
	call.URI = target
	call.Proto = "HTTP/0.9"
	call.Flags |= model.FlagHTTP09
	var mi msgInfo
	c.fillTarget(call, &mi)
	c.principal(call, &mi)
	c.p.st.requests.Add(1)
	c.p.st.http09.Add(1)
	c.enqueue(call, nil)
	c.q[len(c.q)-1].reqDone = true
	h.buf = h.buf[:0]
	// HTTP/0.9 has one request per connection.
	h.st = stDead
}

// finishAll ends every message in progress and emits every transaction.
func (c *Conn) finishAll(ts time.Time) {
	for i := range c.h {
		h := &c.h[i]
		if h.call != nil {
			switch h.st {
			case stBodyCL, stChunkSize, stChunkData, stChunkCRLF, stTrailer:
				if h.body != nil {
					h.body.Truncated = true
				}
			}
			end := h.lastTS
			if end.IsZero() {
				end = ts
			}
			c.endMessage(h, end)
		}
		c.releaseBody(h)
	}
	for i := range c.q {
		t := &c.q[i]
		if !t.respDone {
			t.call.Flags |= model.FlagNoResponse
			t.respDone = true
		}
		t.reqDone = true
	}
	c.flush()
}

// Gap reports n bytes of dir that will never arrive.
func (c *Conn) Gap(dir model.Direction, n int, ts time.Time) {
	if c.closed || c.abandoned || n <= 0 {
		return
	}
	h := &c.h[dir&1]
	if h.st == stDead || !h.seen || h.st == stTunnel {
		// Nothing parsed yet (or not HTTP): the hole just moves the start.
		h.npre = 0 // never splice bytes across a hole
		return
	}
	c.p.st.gaps.Add(1)
	c.p.st.gapBytes.Add(uint64(n))
	h.lastTS = ts
	n64 := int64(n)
	switch h.st {
	case stBodyCL, stChunkData:
		if h.call != nil {
			h.call.Flags |= gapFlagFor(h)
		}
		if h.body != nil {
			h.body.Truncated = true
		}
		h.noStore = true
		if n64 <= h.rem {
			// Length known: the hole is only missing body bytes.
			if h.body != nil {
				h.body.Bytes += n64
			}
			h.rem -= n64
			if h.rem == 0 {
				if h.st == stBodyCL {
					c.endMessage(h, ts)
				} else {
					h.st = stChunkCRLF
					h.chunkLine = 0
				}
			}
			return
		}
		if h.body != nil {
			h.body.Bytes += h.rem
		}
		wasCL := h.st == stBodyCL
		c.endMessage(h, ts)
		// The rest of the hole lies past this body: if the body was the
		// whole message, the next message's start was lost.
		c.enterResync(h, true)
		h.lostStart = wasCL
	case stBodyClose:
		if h.call != nil {
			h.call.Flags |= gapFlagFor(h)
		}
		if h.body != nil {
			h.body.Bytes += n64
			h.body.Truncated = true
		}
		h.noStore = true
	case stStart:
		c.enterResync(h, true)
		h.lostStart = true
	case stHead:
		if h.lines == 1 && h.v09Pending() {
			// "GET /x" and its line end, nothing after: an HTTP/0.9
			// request is whole, as at a close.
			c.finishV09Request(h)
			return
		}
		if cut := len(h.buf) - h.lineStart; c.finishPartialHead(h) {
			// The start line passed startLineOK: the message is real and
			// only its tail is missing (typically a capture's snap length
			// cutting a segment). What arrived is recorded, as at a close,
			// instead of losing the request line and status; the framing
			// fields may be among the lost ones, so whatever follows the
			// hole is found by resyncing.
			if cut > 0 {
				c.p.st.skipped.Add(uint64(cut))
			}
			switch h.st {
			case stDead:
				return // a 101: another protocol follows
			case stTunnel:
				if !h.isReq {
					return // a 2xx to CONNECT: the tunnel's bytes follow
				}
				// A CONNECT: its answer may be a 407 and the client's
				// next CONNECT; look for requests.
			case stResync:
				// onRequest found the framing broken and resyncs already;
				// the next byte follows a hole.
				h.atLineStart, h.probe = true, probeSplit
				return
			case stStart:
			default:
				c.endMessage(h, ts)
			}
			c.enterResync(h, true)
			return
		}
		// A partial start line, or one found while resyncing with no
		// field line to back it: drop it; at a message boundary its
		// message is lost.
		atBoundary := h.probe == probeNone
		c.p.st.skipped.Add(uint64(len(h.buf)))
		c.enterResync(h, true)
		h.lostStart = atBoundary
	case stResync:
		h.atLineStart = true
		h.probe = probeSplit
	default: // chunk-size line, chunk CRLF, trailers
		if h.call != nil {
			h.call.Flags |= gapFlagFor(h)
		}
		if h.body != nil {
			h.body.Truncated = true
		}
		c.endMessage(h, ts)
		c.enterResync(h, true)
	}
}

// Close ends the connection: messages in progress end, requests without a
// response are emitted with FlagNoResponse, in order.
func (c *Conn) Close(ts time.Time) {
	if c.closed {
		return
	}
	if rq := c.reqHalf(); !c.abandoned && rq.v09Pending() {
		c.finishV09Request(rq)
	}
	if !c.abandoned {
		c.finishPartialHead(c.reqHalf())
		c.finishPartialHead(c.respHalf())
	}
	c.finishAll(ts)
	c.closed = true
	c.h[0].st, c.h[1].st = stDead, stDead
	c.h[0].buf, c.h[1].buf = nil, nil
	c.q = nil
	c.reqSec = reqSection{}
}

// finishPartialHead records a message whose header block was cut by the end
// of the connection or by a gap: the start line and complete header lines
// are kept (a capture that ends mid-headers, or was taken with a short snap
// length, still shows the request that was made), and the call is flagged
// FlagReqGap/FlagRespGap (half.partial). It reports whether it recorded
// one.
//
// A start line found while resyncing (inside a body, maybe) must also have
// shown a well-formed field line: its first line alone is weak evidence,
// at a gap as at the end of the capture. The head ends when its last bytes
// came (h.lastTS), not at the gap or close that cut it.
func (c *Conn) finishPartialHead(h *half) bool {
	if h.st != stHead || h.lines < 1 || len(h.buf) < h.lineStart {
		return false
	}
	if h.probe != probeNone && !fieldsSoFar(h.buf[:h.lineStart]) {
		return false
	}
	// In place: the cut line's bytes give way, and onHead copies the block.
	block := append(h.buf[:h.lineStart], "\r\n"...)
	h.partial = true
	c.onHead(h, block, nil, h.lastTS)
	h.partial = false
	h.buf = h.buf[:0]
	if h.body != nil {
		h.body.Truncated = h.st != stStart
	}
	return true
}

// fieldsSoFar reports whether the complete lines after a start line include
// a field line and all are well formed as addField sees them ("name:"), or
// obs-fold continuations. lines ends with the last complete line's LF.
func fieldsSoFar(lines []byte) bool {
	nl := bytes.IndexByte(lines, '\n')
	if nl < 0 {
		return false
	}
	rest := lines[nl+1:]
	n := 0
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			return false
		}
		line := trimCR(rest[:end])
		rest = rest[end+1:]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if n == 0 {
				return false
			}
			continue
		}
		// addField's test: a colon with a name before it.
		if colon := bytes.IndexByte(line, ':'); colon <= 0 || len(trimOWS(line[:colon])) == 0 {
			return false
		}
		n++
	}
	return n > 0
}
