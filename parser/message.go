package parser

import (
	"net/netip"
	"strings"
	"time"

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
	i := 0
	for i < len(line) && isMethodChar(line[i]) {
		i++
	}
	if i == 0 || i >= len(line) || line[i] != ' ' {
		return
	}
	method = line[:i]
	rest := line[i+1:]
	// Targets hold no spaces (RFC 9112 §3.2); a version is the last word.
	j := len(rest)
	for j > 0 && rest[j-1] == ' ' {
		j--
	}
	rest = rest[:j]
	k := -1
	for x := len(rest) - 1; x >= 0; x-- {
		if rest[x] == ' ' {
			k = x
			break
		}
	}
	if k >= 0 && isHTTP1Version(rest[k+1:]) {
		version = rest[k+1:]
		rest = rest[:k]
		for len(rest) > 0 && rest[len(rest)-1] == ' ' {
			rest = rest[:len(rest)-1]
		}
	}
	if len(rest) == 0 {
		return
	}
	for x := 0; x < len(rest); x++ {
		if ch := rest[x]; ch < 0x20 && ch != '\t' || ch == 0x7f {
			return
		}
	}
	target = rest
	ok = true
	return
}

// isHTTP1Version accepts "HTTP/1." followed by digits (lenient: "HTTP/1.01"
// is an evasion seen in the wild, and it is still HTTP/1).
func isHTTP1Version[T ~string | ~[]byte](v T) bool {
	const hp = "HTTP/1."
	if len(v) <= len(hp) || string(v[:len(hp)]) != hp {
		return false
	}
	for i := len(hp); i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// splitStatusLine splits "HTTP/1.x SP code [SP reason]".
func splitStatusLine[T ~string | ~[]byte](line T) (version, code, reason T, ok bool) {
	i := 0
	for i < len(line) && line[i] != ' ' {
		i++
	}
	if !isHTTP1Version(line[:i]) {
		return
	}
	version = line[:i]
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
	code = line[i:j]
	for x := 0; x < len(code); x++ {
		if ch := code[x]; ch < 0x21 || ch == 0x7f {
			return
		}
	}
	for j < len(line) && line[j] == ' ' {
		j++
	}
	reason = line[j:]
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
		m, t, v, ok := splitRequestLine(line)
		if !ok {
			return false
		}
		if len(v) == 0 {
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
		return true
	}
	_, code, _, ok := splitStatusLine(line)
	if !ok {
		return false
	}
	if h.probe != probeNone {
		if _, ok := threeDigits(code); !ok {
			return false
		}
	}
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
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	m, t, v, ok := splitRequestLine(b)
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
	upgrade               bool
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

func (c *Conn) newCall() *model.Call {
	call := &model.Call{
		Src:    c.clientAddr(),
		Dst:    c.serverAddr(),
		Tunnel: c.meta.Tunnel,
	}
	call.ClientIP = call.Src.Addr()
	if c.meta.Midstream {
		call.Flags |= model.FlagMidstream
	}
	return call
}

func gapFlagFor(h *half) model.CallFlags {
	if h.isReq {
		return model.FlagReqGap
	}
	return model.FlagRespGap
}

// onHead parses a complete header block. block ends with the blank line.
func (c *Conn) onHead(h *half, block []byte, ts time.Time) {
	// One string for the whole block: every header name and value, the
	// method, target and version are substrings of it, so a block costs one
	// allocation plus the Headers slice (no per-field conversions, and no
	// interning needed).
	s := string(block)
	nl := strings.IndexByte(s, '\n')
	start := trimCR(s[:nl])
	rest := s[nl+1:]
	h.gapFlag = gapFlagFor(h)
	if h.isReq {
		c.onRequest(h, start, rest, ts)
	} else {
		c.onResponse(h, start, rest, ts)
	}
}

func (c *Conn) onRequest(h *half, start, rest string, ts time.Time) {
	method, target, version, ok := splitRequestLine(start)
	if !ok { // validated before; defensive
		c.p.count(ReasonBadRequestLine)
		c.enterResync(h, false)
		return
	}
	c.p.st.requests.Add(1)
	call := c.newCall()
	call.TS = h.msgTS
	call.EndTS = ts
	call.Method = method
	call.URI = target
	call.Proto = version
	if len(version) == 0 {
		// "GET /" followed by header lines: not HTTP/0.9 (which has no
		// headers); treated as the HTTP/1.0 it behaves like.
		call.Proto = "HTTP/1.0"
	}
	var mi msgInfo
	call.ReqHeaders = c.parseFields(rest, &mi, true, &call.Flags)
	c.fillTarget(call, &mi)
	call.UserAgent = mi.ua
	call.ReqBody.ContentType = mi.ctype
	call.ReqBody.ContentEncoding = mi.cenc
	c.principal(call, &mi)
	c.enqueue(call)
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
			c.p.count(ReasonBadContentLength)
			c.endMessage(h, ts)
			c.enterResync(h, false)
			return
		}
		h.st = stChunkSize
		h.chunkLine = 0
	case mi.clBad || mi.clDiff:
		if mi.clDiff {
			call.Flags |= model.FlagAmbiguousLength
			c.p.count(ReasonAmbiguousLength)
		} else {
			c.p.count(ReasonBadContentLength)
		}
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

func (c *Conn) startCL(h *half, n int64) {
	h.st = stBodyCL
	h.rem = n
	if n <= int64(c.p.cfg.MaxBody) && h.body != nil {
		// Known and small: allocate exactly once, owned by the Call.
		h.body.Data = make([]byte, 0, n)
	}
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
	call.Host = normHost(host)
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

// normHost lowercases and strips the port; IPv6 keeps its brackets.
func normHost(h string) string {
	h = strings.TrimSpace(h)
	if h == "" {
		return ""
	}
	if h[0] == '[' {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[:i+1]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if ch := h[i]; ch >= 'A' && ch <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// enqueue adds a request waiting for its response, bounding the queue.
func (c *Conn) enqueue(call *model.Call) {
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
	c.q = append(c.q, txn{call: call})
}

func (c *Conn) onResponse(h *half, start, rest string, ts time.Time) {
	_, codeS, reason, ok := splitStatusLine(start)
	if !ok {
		c.p.count(ReasonBadStatusLine)
		c.enterResync(h, false)
		return
	}
	code, numeric := threeDigits(codeS)
	var mi msgInfo
	var flags model.CallFlags
	hdrs := c.parseFields(rest, &mi, false, &flags)

	// Interim responses: not final, recorded on the waiting request. A 101
	// is only a protocol switch when the request asked for one (an
	// unsolicited 101 is an evasion trick; it is read as a final response).
	var pending *model.Call
	if t := c.awaiting(0); t != nil && !h.resynced {
		pending = t.call
	}
	if numeric && code >= 100 && code < 200 && (code != 101 || pending == nil || pending.ReqHeaders.Has("Upgrade")) {
		if code != 101 {
			c.p.st.interim.Add(1)
			if pending != nil && len(pending.Interim) < 16 {
				pending.Interim = append(pending.Interim, code)
				pending.Flags |= model.FlagInterim
			}
			h.st = stStart
			return
		}
	}
	c.p.st.responses.Add(1)
	var call *model.Call
	if h.resynced {
		call = c.pairAfterResync(h.msgTS, h.lostStart)
		h.resynced, h.lostStart = false, false
	} else if t := c.awaiting(0); t != nil {
		call = t.call
		if c.awaiting(1) != nil {
			c.pipelined = true
		}
	}
	if call == nil {
		call = c.newCall()
		call.Flags |= model.FlagNoRequest
		call.TS = h.msgTS
		c.q = append(c.q, txn{call: call, reqDone: true})
	}
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
	h.gapFlag = model.FlagRespGap

	switch {
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
		if mi.clDiff {
			call.Flags |= model.FlagAmbiguousLength
			c.p.count(ReasonAmbiguousLength)
		} else {
			c.p.count(ReasonBadContentLength)
		}
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
	var cands [64]int
	n := 0
	for i := range c.q {
		t := &c.q[i]
		if t.respDone || t.call.TS.After(ts) || t.call == c.respHalf().call {
			continue
		}
		if n < len(cands) {
			cands[n] = i
			n++
		}
	}
	if n == 0 {
		return nil
	}
	k := n - 1
	if c.pipelined {
		k = 0
		if lostStart && n > 1 {
			k = 1
		}
	}
	for i := 0; i < k; i++ {
		t := &c.q[cands[i]]
		t.call.Flags |= model.FlagNoResponse | model.FlagRespGap
		t.respDone = true
	}
	return c.q[cands[k]].call
}

// parseFields parses header lines (each ending in LF, the block ending with
// a blank line). obs-fold continuation lines are joined to the previous raw
// line with one space before the name/value split, as RFC 9112 §5.2 allows a
// recipient to do; that also reads "Transfer-Encoding\n :chunked" the way
// the servers that accept it do. Sensitive values are redacted.
func (c *Conn) parseFields(rest string, mi *msgInfo, isReq bool, flags *model.CallFlags) model.Headers {
	n := strings.Count(rest, "\n")
	if n == 0 {
		return nil
	}
	hdrs := make(model.Headers, 0, n-1+1)
	var cur string
	have := false
	for len(rest) > 0 {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		line := trimCR(rest[:i])
		if i < len(rest) {
			rest = rest[i+1:]
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
	switch len(name) {
	case 4:
		if isReq && strings.EqualFold(name, "Host") && mi.host == "" {
			mi.host = val
		}
	case 6:
		if isReq && strings.EqualFold(name, "Cookie") {
			if mi.ncookie < len(mi.cookies) {
				mi.cookies[mi.ncookie] = val
				mi.ncookie++
			}
			val = redacted
		}
	case 7:
		if strings.EqualFold(name, "Upgrade") {
			mi.upgrade = true
		}
	case 10:
		if isReq && strings.EqualFold(name, "User-Agent") && mi.ua == "" {
			mi.ua = val
		} else if !isReq && strings.EqualFold(name, "Set-Cookie") {
			val = redactSetCookie(val)
		}
	case 12:
		if strings.EqualFold(name, "Content-Type") && mi.ctype == "" {
			mi.ctype = val
		}
	case 13:
		if isReq && strings.EqualFold(name, "Authorization") {
			if mi.auth == "" {
				mi.auth = val
			}
			val = redactAuth(val)
		}
	case 14:
		if strings.EqualFold(name, "Content-Length") {
			parseCL(val, mi)
		}
	case 15:
		if isReq && strings.EqualFold(name, "X-Forwarded-For") {
			mi.xff = true
		}
	case 16:
		if strings.EqualFold(name, "Content-Encoding") && mi.cenc == "" {
			mi.cenc = val
		}
	case 17:
		if strings.EqualFold(name, "Transfer-Encoding") {
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
		if strings.EqualFold(name, "Proxy-Authorization") {
			val = redactAuth(val)
		}
	}
	// Lowercasing every name for the map costs more than the rest of the
	// field; a length mask rules out nearly all names first.
	if isReq && len(name) < 64 && c.p.apiKeyLens&(1<<uint(len(name))) != 0 {
		var tmp [64]byte
		for k := 0; k < len(name); k++ {
			ch := name[k]
			if ch >= 'A' && ch <= 'Z' {
				ch += 32
			}
			tmp[k] = ch
		}
		if _, ok := c.p.apiKeyHeaders[string(tmp[:len(name)])]; ok {
			if mi.apiKeyName == "" && val != "" {
				mi.apiKeyName, mi.apiKeyVal = name, val
			}
			val = redacted
		}
	}
	return append(hdrs, model.Header{Name: name, Value: val})
}

// parseCL folds one Content-Length field (possibly a list "5, 5") into mi.
func parseCL(v string, mi *msgInfo) {
	for v != "" {
		part := v
		if k := strings.IndexByte(v, ','); k >= 0 {
			part, v = v[:k], v[k+1:]
		} else {
			v = ""
		}
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
	sp := strings.IndexAny(v, " \t")
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

// trimOWS strips spaces and tabs; strings.Trim with a cutset measured ~3x
// slower on the header hot path.
func trimOWS(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}
