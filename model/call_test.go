package model

import (
	"fmt"
	"testing"
	"unsafe"
)

// A Clone shares no memory with its original: every string, header and
// body byte of the original may be rewritten (as the parser's arena does)
// without the clone changing.
func TestCloneOwnsEverything(t *testing.T) {
	buf := []byte("GET/a?q=1h.exampleHTTP/1.1OKua/1idRS256X-Keyapplication/jsongzipNameValue")
	str := func(i, j int) string { return unsafe.String(&buf[i], j-i) }
	body := []byte("payload")
	c := &Call{Method: str(0, 3), URI: str(3, 9), Path: str(3, 5), Query: str(6, 9), Host: str(9, 18),
		Template: str(3, 5), Proto: str(18, 26), StatusText: str(26, 28), UserAgent: str(28, 32),
		Principal:  Principal{Kind: PrincipalJWT, ID: str(32, 34)},
		Auth:       Auth{JWTAlg: str(34, 39), APIKeyName: str(39, 44)},
		ReqBody:    Body{Data: body, ContentType: str(44, 60), ContentEncoding: str(60, 64)},
		RespBody:   Body{Data: body[:3], ContentType: str(44, 60), ContentEncoding: str(60, 64)},
		ReqHeaders: Headers{{Name: str(64, 68), Value: str(68, 73)}}, RespHeaders: Headers{{Name: str(64, 68), Value: str(68, 73)}},
		Interim: []uint16{100}, Slab: 3}
	want := fmt.Sprintf("%+v", *c)
	d := c.Clone()
	if d.Slab != 0 {
		t.Fatalf("clone has slab class %d", d.Slab)
	}
	d.Slab = c.Slab
	for i := range buf {
		buf[i] = '#'
	}
	for i := range body {
		body[i] = '#'
	}
	c.ReqHeaders[0], c.Interim[0] = Header{}, 0
	if got := fmt.Sprintf("%+v", *d); got != want {
		t.Fatalf("clone changed with the original:\n got %s\nwant %s", got, want)
	}
}
