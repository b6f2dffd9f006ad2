package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Transaction is one HTTP request/response pair as the generator put it on
// the wire: the ground truth a sensor's calls.jsonl is compared with. JSON
// names follow calls.jsonl where the field means the same thing.
type Transaction struct {
	// Conn numbers the generator's TCP connections from 1, in SYN order.
	Conn int `json:"conn"`
	// Tunnel is the tunnel id the frames carried (0 without encapsulation);
	// with Config.DupTunnelID every transaction appears once per tunnel.
	Tunnel uint32 `json:"tunnel,omitempty"`
	// TS is the timestamp of the packet carrying the request's first byte.
	TS     time.Time      `json:"ts"`
	Src    netip.AddrPort `json:"src"`
	Dst    netip.AddrPort `json:"dst"`
	Method string         `json:"method"`
	Host   string         `json:"host"`
	URI    string         `json:"uri"`
	// Status is 0 when the generator sent no response.
	Status uint16 `json:"status"`
	// Body sizes after de-chunking, as calls.jsonl counts them.
	ReqBodyBytes  int64  `json:"req_body_bytes"`
	RespBodyBytes int64  `json:"resp_body_bytes"`
	Principal     string `json:"principal"`
	// Chunked is set when the response used Transfer-Encoding: chunked.
	Chunked bool `json:"chunked"`
	// RespSegments is how many TCP segments carried the response.
	RespSegments int `json:"resp_segments"`
}

// TruthWriter writes transactions as JSON lines. It buffers; call Flush at
// the end and check its error (a failed write is remembered and returned
// there, so the Config.Truth callback can stay error-free).
type TruthWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
	err error
	n   int
}

// NewTruthWriter returns a writer of JSON lines to w.
func NewTruthWriter(w io.Writer) *TruthWriter {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // URIs stay readable: '&', not \u0026
	return &TruthWriter{bw: bw, enc: enc}
}

// Add writes one transaction; it is meant as Config.Truth.
func (t *TruthWriter) Add(tx Transaction) {
	if t.err != nil {
		return
	}
	if err := t.enc.Encode(tx); err != nil {
		t.err = fmt.Errorf("write truth line %d: %w", t.n+1, err)
		return
	}
	t.n++
}

// Flush writes buffered lines and returns the first error seen.
func (t *TruthWriter) Flush() error {
	if t.err != nil {
		return t.err
	}
	if err := t.bw.Flush(); err != nil {
		return fmt.Errorf("flush truth: %w", err)
	}
	return nil
}

// ReadTruth parses JSON lines written by TruthWriter.
func ReadTruth(r io.Reader) ([]Transaction, error) {
	dec := json.NewDecoder(r)
	var out []Transaction
	for {
		var tx Transaction
		err := dec.Decode(&tx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read truth line %d: %w", len(out)+1, err)
		}
		out = append(out, tx)
	}
}
