package gen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// frame is one decoded pcap record, reduced to what the checks need.
type frame struct {
	ts       time.Time
	tunnel   uint32
	encap    []gopacket.LayerType // layers before the inner IPv4 header
	src, dst netip.AddrPort
	tcp      *layers.TCP
	payload  []byte
}

// readFrames decodes every record with gopacket, failing on any decode error,
// and unwraps ERSPAN III (which gopacket does not know) by hand.
func readFrames(t testing.TB, pcap []byte) []frame {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(pcap))
	if err != nil {
		t.Fatalf("pcap reader: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v, want Ethernet", r.LinkType())
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("record %d: %v", len(out)+1, err)
		}
		if ci.CaptureLength != len(data) || ci.Length != len(data) {
			t.Fatalf("record %d: caplen %d len %d data %d", len(out)+1, ci.CaptureLength, ci.Length, len(data))
		}
		f, err := decodeFrame(data)
		if err != nil {
			t.Fatalf("record %d: %v", len(out)+1, err)
		}
		f.ts = ci.Timestamp
		out = append(out, f)
	}
}

func decodeFrame(data []byte) (frame, error) {
	var f frame
	p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
	ls := p.Layers()
	for i, l := range ls {
		switch l := l.(type) {
		case *layers.Dot1Q:
			if f.tunnel == 0 { // outer tag of QinQ
				f.tunnel = uint32(l.VLANIdentifier)
			}
		case *layers.MPLS:
			f.tunnel = l.Label
		case *layers.VXLAN:
			f.tunnel = l.VNI
		case *layers.Geneve:
			f.tunnel = l.VNI
		case *layers.GRE:
			if l.KeyPresent {
				f.tunnel = l.Key
			}
			if l.Protocol == ethernetTypeERSPAN3 {
				h := l.Payload
				if len(h) < 12 || h[0]>>4 != 2 {
					return f, fmt.Errorf("bad ERSPAN III header % x", h[:min(len(h), 12)])
				}
				f.tunnel = uint32(binary.BigEndian.Uint16(h[2:]) & 0x3ff)
				inner, err := decodeFrame(h[12:])
				inner.tunnel = f.tunnel
				inner.encap = append(layerTypes(ls[:i+1]), inner.encap...)
				return inner, err
			}
		case *layers.ERSPANII:
			f.tunnel = uint32(l.SessionID)
		case *layers.IPv4:
			if i+1 < len(ls) && ls[i+1].LayerType() == layers.LayerTypeTCP {
				f.encap = layerTypes(ls[:i])
				tcp := ls[i+1].(*layers.TCP)
				f.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(l.SrcIP.To4())), uint16(tcp.SrcPort))
				f.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(l.DstIP.To4())), uint16(tcp.DstPort))
				f.tcp = tcp
				f.payload = tcp.Payload
				if int(l.Length) != len(l.Contents)+len(l.Payload) {
					return f, fmt.Errorf("IPv4 length %d, have %d", l.Length, len(l.Contents)+len(l.Payload))
				}
				return f, nil
			}
		case *gopacket.DecodeFailure:
			return f, fmt.Errorf("decode: %v", l.Error())
		}
	}
	return f, fmt.Errorf("no IPv4/TCP in %v", layerTypes(ls))
}

func layerTypes(ls []gopacket.Layer) []gopacket.LayerType {
	out := make([]gopacket.LayerType, len(ls))
	for i, l := range ls {
		out[i] = l.LayerType()
	}
	return out
}

// halfStream is one direction of a test-reassembled connection.
type halfStream struct {
	next  uint32
	data  []byte
	offTS []offTS // timestamp of the segment carrying each byte offset
}

type offTS struct {
	off int
	ts  time.Time
}

func (h *halfStream) tsAt(off int) time.Time {
	i, _ := slices.BinarySearchFunc(h.offTS, off, func(e offTS, o int) int {
		if e.off > o {
			return 1
		}
		if e.off < o {
			return -1
		}
		return 0
	})
	if i == len(h.offTS) || h.offTS[i].off > off {
		i--
	}
	return h.offTS[i].ts
}

type testConn struct {
	tunnel   uint32
	cli, srv netip.AddrPort
	c2s, s2c halfStream
}

// reparse reassembles in-order TCP connections (SYN to FIN) and parses the
// HTTP exchanges with net/http: an independent reading of the frames to hold
// the ground truth against. Out-of-order or missing bytes fail the test.
func reparse(t testing.TB, frames []frame) []Transaction {
	t.Helper()
	type key struct {
		tunnel uint32
		a, b   netip.AddrPort
	}
	live := map[key]*testConn{}
	var all []*testConn
	for i, f := range frames {
		if f.tcp.SYN && !f.tcp.ACK {
			c := &testConn{tunnel: f.tunnel, cli: f.src, srv: f.dst}
			c.c2s.next = f.tcp.Seq + 1
			live[key{f.tunnel, f.src, f.dst}] = c
			all = append(all, c)
			continue
		}
		c, h := live[key{f.tunnel, f.src, f.dst}], (*halfStream)(nil)
		if c != nil {
			h = &c.c2s
		} else if c = live[key{f.tunnel, f.dst, f.src}]; c != nil {
			h = &c.s2c
		} else {
			t.Fatalf("frame %d: segment %v->%v on no open connection", i+1, f.src, f.dst)
		}
		if f.tcp.SYN {
			h.next = f.tcp.Seq + 1
			continue
		}
		if len(f.payload) > 0 {
			if f.tcp.Seq != h.next {
				t.Fatalf("frame %d: seq %d, want %d (%v->%v)", i+1, f.tcp.Seq, h.next, f.src, f.dst)
			}
			h.offTS = append(h.offTS, offTS{len(h.data), f.ts})
			h.data = append(h.data, f.payload...)
			h.next += uint32(len(f.payload))
		}
		if f.tcp.FIN {
			h.next++
		}
	}
	var out []Transaction
	for _, c := range all {
		out = append(out, parseConn(t, c)...)
	}
	sortTx(out)
	return out
}

func parseConn(t testing.TB, c *testConn) []Transaction {
	t.Helper()
	reqR := &countReader{r: bytes.NewReader(c.c2s.data)}
	respR := bufio.NewReader(bytes.NewReader(c.s2c.data))
	br := bufio.NewReader(reqR)
	var out []Transaction
	for {
		off := reqR.n - br.Buffered()
		req, err := http.ReadRequest(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("conn %v->%v: request %d: %v", c.cli, c.srv, len(out)+1, err)
		}
		reqBody, err := io.Copy(io.Discard, req.Body)
		if err != nil {
			t.Fatalf("conn %v->%v: request body: %v", c.cli, c.srv, err)
		}
		tx := Transaction{Tunnel: c.tunnel, TS: c.c2s.tsAt(off), Src: c.cli, Dst: c.srv,
			Method: req.Method, Host: req.Host, URI: req.RequestURI, ReqBodyBytes: reqBody,
			Principal: principalOf(req, c.cli)}
		resp, err := http.ReadResponse(respR, req)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("conn %v->%v: response to %s %s: %v", c.cli, c.srv, req.Method, req.RequestURI, err)
		}
		if err == nil {
			tx.Status = uint16(resp.StatusCode)
			tx.Chunked = slices.Contains(resp.TransferEncoding, "chunked")
			if tx.RespBodyBytes, err = io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("conn %v->%v: response body: %v", c.cli, c.srv, err)
			}
		}
		out = append(out, tx)
	}
	if rest, _ := io.ReadAll(respR); len(rest) > 0 {
		t.Fatalf("conn %v->%v: %d response bytes after the last response", c.cli, c.srv, len(rest))
	}
	return out
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// principalOf is the test's own reading of the DESIGN.md principal rule, for
// the credential kinds the generators use.
func principalOf(req *http.Request, cli netip.AddrPort) string {
	if a := req.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		if sub := jwtSub(strings.TrimPrefix(a, "Bearer ")); sub != "" {
			return "jwt:" + sub
		}
	}
	if u, _, ok := req.BasicAuth(); ok {
		return "basic:" + u
	}
	if req.URL.Query().Has("api_key") {
		return "apikey:*" // the sensor's hmac8 depends on its secret
	}
	return "ip:" + cli.Addr().String()
}

func sortTx(txs []Transaction) {
	slices.SortStableFunc(txs, func(a, b Transaction) int {
		if c := a.TS.Compare(b.TS); c != 0 {
			return c
		}
		if a.Tunnel != b.Tunnel {
			return int(a.Tunnel) - int(b.Tunnel)
		}
		return a.Src.Compare(b.Src)
	})
}

// sameTx compares the fields a sensor's calls.jsonl carries.
func sameTx(a, b Transaction) bool {
	return a.Tunnel == b.Tunnel && a.TS.Equal(b.TS) && a.Src == b.Src && a.Dst == b.Dst &&
		a.Method == b.Method && a.Host == b.Host && a.URI == b.URI && a.Status == b.Status &&
		a.ReqBodyBytes == b.ReqBodyBytes && a.RespBodyBytes == b.RespBodyBytes &&
		a.Principal == b.Principal && a.Chunked == b.Chunked
}

// checkTruth holds the generator's ground truth against the reparse.
func checkTruth(t testing.TB, truth, parsed []Transaction, checkPrincipal bool) {
	t.Helper()
	truth = slices.Clone(truth)
	sortTx(truth)
	if len(truth) != len(parsed) {
		t.Fatalf("ground truth has %d transactions, frames hold %d", len(truth), len(parsed))
	}
	for i := range truth {
		want, got := truth[i], parsed[i]
		if !checkPrincipal {
			got.Principal = want.Principal
		}
		if !sameTx(want, got) {
			t.Fatalf("transaction %d:\ntruth   %+v\nreparse %+v", i, want, got)
		}
	}
}
