package gen

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// jwtFor builds a real base64url JWT (header.payload.signature) for sub with
// a fake signature: sensors decode but never verify, so only the structure
// matters. alg "none" gives an empty signature, as such tokens carry.
func jwtFor(r *rand.Rand, alg, sub string, iat time.Time) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	payload, _ := json.Marshal(struct {
		Sub   string `json:"sub"`
		Iss   string `json:"iss"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
		Scope string `json:"scope"`
	}{sub, "https://auth.example.com/", "api", iat.Unix(), iat.Add(time.Hour).Unix(), "read write"})
	tok := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload) + "."
	if alg == "none" {
		return tok
	}
	sig := make([]byte, 256) // RS256 signature size for a 2048-bit key
	for i := range sig {
		sig[i] = byte(r.Uint32())
	}
	return tok + enc.EncodeToString(sig)
}

// reqHead builds a request head. hdrs are "Name: value" pairs added after
// Host/User-Agent/Accept.
func reqHead(b []byte, method, uri, host, ua string, hdrs ...string) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, ua...)
	b = append(b, "\r\nAccept: application/json\r\n"...)
	for _, h := range hdrs {
		b = append(b, h...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// respHead builds a response head for a body of bodyLen bytes (-1: chunked,
// -2: no body framing at all, as for 204 and 304).
func respHead(b []byte, status int, ts time.Time, bodyLen int, reqID uint64, hdrs ...string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nDate: "...)
	b = ts.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\nServer: nginx\r\n"...)
	switch {
	case bodyLen >= 0:
		b = append(b, "Content-Type: application/json; charset=utf-8\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(bodyLen), 10)
		b = append(b, "\r\n"...)
	case bodyLen == -1:
		b = append(b, "Content-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "Connection: keep-alive\r\nX-Request-Id: "...)
	b = strconv.AppendUint(b, reqID, 16)
	b = append(b, "\r\n"...)
	for _, h := range hdrs {
		b = append(b, h...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// responseParts is a response in the writes a server makes: one with a
// Content-Length body (no framing for 204 and 304), or, when chunks > 0, a
// chunked one (chunkedResponse).
func responseParts(status int, ts time.Time, reqID uint64, body []byte, chunks int, hdrs ...string) [][]byte {
	if chunks > 0 {
		return chunkedResponse(respHead(nil, status, ts, -1, reqID, hdrs...), body, chunks)
	}
	bodyLen := len(body)
	if status == 204 || status == 304 {
		bodyLen = -2
	}
	return [][]byte{append(respHead(nil, status, ts, bodyLen, reqID, hdrs...), body...)}
}

// chunkedResponse is head plus body in n chunks: the head leaves in one
// write with the first chunk (servers buffer it), later chunks in their own.
func chunkedResponse(head, body []byte, n int) [][]byte {
	parts := chunkParts(body, n)
	parts[0] = append(head, parts[0]...)
	return parts
}

// chunkParts splits body into n chunks, each framed as its own part (a
// streaming server flushes each chunk), the last part carrying the
// terminating zero chunk.
func chunkParts(body []byte, n int) [][]byte {
	var parts [][]byte
	step := (len(body) + n - 1) / max(n, 1)
	for len(body) > 0 {
		k := min(step, len(body))
		p := fmt.Appendf(nil, "%x\r\n", k)
		p = append(p, body[:k]...)
		p = append(p, "\r\n"...)
		parts = append(parts, p)
		body = body[k:]
	}
	if len(parts) == 0 {
		return [][]byte{[]byte("0\r\n\r\n")}
	}
	parts[len(parts)-1] = append(parts[len(parts)-1], "0\r\n\r\n"...)
	return parts
}

var words = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
	"kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
	"uniform", "victor", "whiskey", "xray", "yankee", "zulu", "amber", "cobalt", "denim", "ember",
}

var fieldNames = []string{
	"status", "currency", "country", "city", "tier", "category", "brand", "color", "size", "channel",
	"region", "locale", "segment", "warehouse", "carrier", "note", "tag", "label", "source", "plan",
}

// jsonBody appends a JSON object of about target bytes: the given leading
// fields (already JSON-encoded "k":v pairs), then filler fields.
func jsonBody(b []byte, r *rand.Rand, target int, lead ...string) []byte {
	start := len(b)
	b = append(b, '{')
	for i, f := range lead {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	for n := 0; len(b)-start < target-2; n++ {
		if len(b)-start > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, fieldNames[r.IntN(len(fieldNames))]...)
		b = append(b, '_')
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, `":"`...)
		b = append(b, words[r.IntN(len(words))]...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// jsonList appends a JSON array of n objects of about each bytes.
func jsonList(b []byte, r *rand.Rand, n, each int) []byte {
	b = append(b, `{"items":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonBody(b, r, each, `"id":`+strconv.Itoa(1000+r.IntN(90000)))
	}
	b = append(b, `],"page":1,"count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '}')
}

// uuid4 formats 16 random bytes as a version-4 UUID.
func uuid4(r *rand.Rand) string {
	var u [16]byte
	for i := range u {
		u[i] = byte(r.Uint32())
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}
