package model

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"
)

// ErrDecodedTooLarge is returned when a body inflates past the caller's cap:
// the decompression-bomb guard.
var ErrDecodedTooLarge = errors.New("decoded body exceeds cap")

// Decoded returns the body with its Content-Encoding (gzip, deflate, or none)
// removed, reading at most max decoded bytes. It allocates only when the body
// is encoded; an identity body is returned as is. A body that inflates past
// max returns the first max bytes and ErrDecodedTooLarge, so a small
// compressed body can never make the sensor allocate more than max.
func (b *Body) Decoded(max int) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(b.ContentEncoding))
	var r io.Reader
	switch enc {
	case "", "identity":
		return b.Data, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b.Data))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case "deflate":
		// RFC 9110 says zlib-wrapped; some servers send raw deflate.
		if zr, err := zlib.NewReader(bytes.NewReader(b.Data)); err == nil {
			defer zr.Close()
			r = zr
		} else {
			fr := flate.NewReader(bytes.NewReader(b.Data))
			defer fr.Close()
			r = fr
		}
	default:
		return nil, errors.New("unsupported content-encoding " + enc)
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(r, int64(max)+1))
	if n > int64(max) {
		return out.Bytes()[:max], ErrDecodedTooLarge
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return out.Bytes(), err
	}
	// A truncated body (cap or gap) ends early: what inflated is still useful.
	return out.Bytes(), nil
}
