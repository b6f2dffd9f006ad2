package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type testPkt struct {
	data []byte
	ts   time.Time
	lt   uint16
}

// mkPackets makes n distinct frames of varying length.
func mkPackets(n int, lt uint16, base time.Time, step time.Duration) []testPkt {
	out := make([]testPkt, n)
	for i := range out {
		b := make([]byte, 20+i*7%200)
		for j := range b {
			b[j] = byte(i*31 + j)
		}
		out[i] = testPkt{data: b, ts: base.Add(time.Duration(i) * step), lt: lt}
	}
	return out
}

func writePcap(t testing.TB, pkts []testPkt, nano bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *pcapgo.Writer
	if nano {
		w = pcapgo.NewWriterNanos(&buf)
	} else {
		w = pcapgo.NewWriter(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkType(pkts[0].lt)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data) + 3}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// swapPcap rewrites a little-endian classic pcap as big-endian, the way a
// SPARC or PowerPC host writes it.
func swapPcap(b []byte) []byte {
	out := append([]byte(nil), b...)
	sw32 := func(o int) { binary.BigEndian.PutUint32(out[o:], binary.LittleEndian.Uint32(b[o:])) }
	sw16 := func(o int) { binary.BigEndian.PutUint16(out[o:], binary.LittleEndian.Uint16(b[o:])) }
	sw32(0)
	sw16(4)
	sw16(6)
	for _, o := range []int{8, 12, 16, 20} {
		sw32(o)
	}
	for o := 24; o < len(b); {
		caplen := int(binary.LittleEndian.Uint32(b[o+8:]))
		for k := 0; k < 16; k += 4 {
			sw32(o + k)
		}
		o += 16 + caplen
	}
	return out
}

func writeNg(t testing.TB, pkts []testPkt, ifaces []layers.LinkType) []byte {
	t.Helper()
	return writeNgOpt(t, pkts, ifaces, false)
}

// writeNgStats is writeNg ending, as dumpcap's files do, with an Interface
// Statistics Block per interface: blocks after the last packet.
func writeNgStats(t testing.TB, pkts []testPkt, ifaces []layers.LinkType) []byte {
	t.Helper()
	return writeNgOpt(t, pkts, ifaces, true)
}

func writeNgOpt(t testing.TB, pkts []testPkt, ifaces []layers.LinkType, stats bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "if0", LinkType: ifaces[0], SnapLength: 65535, TimestampResolution: 9}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[layers.LinkType]int{ifaces[0]: 0}
	for i, lt := range ifaces[1:] {
		id, err := w.AddInterface(pcapgo.NgInterface{Name: fmt.Sprintf("if%d", i+1), LinkType: lt, SnapLength: 65535, TimestampResolution: 9})
		if err != nil {
			t.Fatal(err)
		}
		ids[lt] = id
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data), InterfaceIndex: ids[layers.LinkType(p.lt)]}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ifaces {
		if !stats {
			break
		}
		st := pcapgo.NgInterfaceStatistics{LastUpdate: time.Unix(1714557600, 0), PacketsReceived: uint64(len(pkts)), PacketsDropped: 0}
		if err := w.WriteInterfaceStats(i, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readAll drains a source, copying each packet.
func readAll(t testing.TB, s Source) ([]Packet, error) {
	var out []Packet
	for {
		var p Packet
		err := s.Next(&p)
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
	}
}

func checkPackets(t *testing.T, got []Packet, want []testPkt, firstIndex uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Data, w.data) || !g.TS.Equal(w.ts) || g.LinkType != w.lt || g.Index != firstIndex+uint64(i) {
			t.Fatalf("packet %d: got (len %d ts %v lt %d idx %d), want (len %d ts %v lt %d idx %d)",
				i, len(g.Data), g.TS, g.LinkType, g.Index, len(w.data), w.ts, w.lt, firstIndex+uint64(i))
		}
	}
}

func TestFileFormats(t *testing.T) {
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	usPkts := mkPackets(50, LinkEthernet, base, 1500*time.Microsecond)
	nsPkts := mkPackets(50, LinkLinuxSLL, base, 1234567*time.Nanosecond+1)
	mixed := mkPackets(60, LinkEthernet, base, time.Millisecond+7)
	for i := range mixed {
		if i%3 == 1 {
			mixed[i].lt = LinkRaw
		} else if i%3 == 2 {
			mixed[i].lt = LinkSLL2
		}
	}
	ngTypes := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkType(LinkSLL2)}
	tests := []struct {
		name string
		data []byte
		want []testPkt
	}{
		{"pcap-us-le", writePcap(t, usPkts, false), usPkts},
		{"pcap-ns-le", writePcap(t, nsPkts, true), nsPkts},
		{"pcap-us-be", swapPcap(writePcap(t, usPkts, false)), usPkts},
		{"pcap-ns-be", swapPcap(writePcap(t, nsPkts, true)), nsPkts},
		{"pcap-gzip", gz(t, writePcap(t, nsPkts, true)), nsPkts},
		{"pcapng-3-ifaces", writeNg(t, mixed, ngTypes), mixed},
		{"pcapng-gzip", gz(t, writeNg(t, mixed, ngTypes)), mixed},
		// dumpcap ends a file with statistics blocks: the end of the file
		// after them is a clean end, not a truncated record.
		{"pcapng-trailing-stats", writeNgStats(t, mixed, ngTypes), mixed},
		// Two sections back to back, the second with a different
		// interface table (what `cat a.pcapng b.pcapng` gives).
		{"pcapng-2-sections", append(writeNg(t, usPkts, []layers.LinkType{layers.LinkTypeEthernet}),
			writeNg(t, mixed, ngTypes)...), append(append([]testPkt(nil), usPkts...), mixed...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "capture.bin", tc.data) // no extension: detection is by magic
			s, err := OpenFiles([]string{path}, DefaultFileConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := readAll(t, s)
			if err != nil {
				t.Fatal(err)
			}
			checkPackets(t, got, tc.want, 1)
			if done, total := s.Progress(); done != int64(len(tc.data)) || total != int64(len(tc.data)) {
				t.Errorf("progress %d/%d, want %d/%d", done, total, len(tc.data), len(tc.data))
			}
			if got[0].OrigLen < len(got[0].Data) {
				t.Errorf("OrigLen %d < captured %d", got[0].OrigLen, len(got[0].Data))
			}
		})
	}
}

func TestFileSeveralAndStdin(t *testing.T) {
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	a := mkPackets(10, LinkEthernet, base, time.Millisecond)
	b := mkPackets(7, LinkRaw, base.Add(time.Second), time.Millisecond)
	c := mkPackets(5, LinkNull, base.Add(2*time.Second), time.Millisecond)
	pa := writeFile(t, "a.pcap", writePcap(t, a, false))
	pc := writeFile(t, "c.pcapng", writeNg(t, c, []layers.LinkType{layers.LinkTypeNull}))
	d := mkPackets(4, LinkEthernet, base.Add(3*time.Second), time.Millisecond)
	pd := writeFile(t, "d.pcapng", writeNgStats(t, d, []layers.LinkType{layers.LinkTypeEthernet}))
	cfg := DefaultFileConfig()
	cfg.Stdin = bytes.NewReader(gz(t, writePcap(t, b, true)))
	// The file ending in a statistics block comes before another: its
	// end must not stop the run.
	s, err := OpenFiles([]string{pa, "-", pd, pc}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(t, s)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(a, b, d, c)
	checkPackets(t, got, want, 1) // Index runs on across files
	if _, total := s.Progress(); total != 0 {
		t.Errorf("total with stdin = %d, want 0 (unknown)", total)
	}
}

func TestFileErrors(t *testing.T) {
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	pkts := mkPackets(20, LinkEthernet, base, time.Millisecond)
	good := writePcap(t, pkts, false)
	// Offset of record k: 24 + sum of (16 + len) before it.
	recOff := func(k int) int64 {
		o := int64(24)
		for i := 0; i < k; i++ {
			o += 16 + int64(len(pkts[i].data))
		}
		return o
	}
	t.Run("missing", func(t *testing.T) {
		_, err := OpenFiles([]string{filepath.Join(t.TempDir(), "nope.pcap")}, DefaultFileConfig())
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.pcap") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad-magic", func(t *testing.T) {
		p := writeFile(t, "x.pcap", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		_, err := OpenFiles([]string{p}, DefaultFileConfig())
		// The file's header is wrong, not a packet record.
		if err == nil || err.Error() != "read "+p+": not a pcap or pcapng file (magic 20544547)" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		p := writeFile(t, "e.pcap", nil)
		if _, err := OpenFiles([]string{p}, DefaultFileConfig()); err == nil || !strings.Contains(err.Error(), "e.pcap") {
			t.Fatalf("err = %v", err)
		}
		// Compressed or not, an empty capture says so.
		p = writeFile(t, "e.pcap.gz", gz(t, nil))
		if _, err := OpenFiles([]string{p}, DefaultFileConfig()); err == nil || err.Error() != "read "+p+": read file header (gzip): empty file" {
			t.Fatalf("err = %v", err)
		}
	})
	// Truncations at several points of the last record: in the header,
	// in the data, one byte short.
	last := len(pkts) - 1
	for _, cut := range []int64{recOff(last) + 5, recOff(last) + 16, int64(len(good)) - 1} {
		for _, gzipped := range []bool{false, true} {
			t.Run(fmt.Sprintf("truncated-%d-gzip=%v", cut, gzipped), func(t *testing.T) {
				data := good[:cut]
				if gzipped {
					data = gz(t, data)
				}
				p := writeFile(t, "cut.pcap", data)
				s, err := OpenFiles([]string{p}, DefaultFileConfig())
				if err != nil {
					t.Fatal(err)
				}
				got, err := readAll(t, s)
				checkPackets(t, got, pkts[:last], 1)
				var fe *FileError
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want *FileError", err)
				}
				if !fe.Truncated || fe.Offset != recOff(last) || fe.Packet != uint64(last) || fe.Path != p || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err = %#v", fe)
				}
				wantMsg := fmt.Sprintf("read %s: truncated packet record at offset %d (after packet %d): unexpected EOF", p, recOff(last), last)
				if err.Error() != wantMsg {
					t.Fatalf("message\n got %q\nwant %q", err.Error(), wantMsg)
				}
				if err2 := s.Next(&Packet{}); err2 != err {
					t.Fatalf("error not sticky: %v", err2)
				}
			})
		}
	}
	t.Run("corrupt-record", func(t *testing.T) {
		data := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(data[recOff(5)+8:], 0x7fffffff) // caplen
		p := writeFile(t, "bad.pcap", data)
		s, err := OpenFiles([]string{p}, DefaultFileConfig())
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		checkPackets(t, got, pkts[:5], 1)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Truncated || fe.Offset != recOff(5) || fe.Packet != 5 ||
			!strings.Contains(err.Error(), "corrupt packet record at offset") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("truncated-pcapng", func(t *testing.T) {
		ng := writeNg(t, pkts, []layers.LinkType{layers.LinkTypeEthernet})
		p := writeFile(t, "cut.pcapng", ng[:len(ng)-10])
		s, err := OpenFiles([]string{p}, DefaultFileConfig())
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		checkPackets(t, got, pkts[:last], 1)
		var fe *FileError
		if !errors.As(err, &fe) || !fe.Truncated || fe.Packet != uint64(last) || fe.Offset <= 0 || fe.Offset >= int64(len(ng)) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("truncated-pcapng-stats", func(t *testing.T) {
		// Cut inside the statistics block after the last packet: every
		// packet is read, and the cut is still reported.
		ng := writeNgStats(t, pkts, []layers.LinkType{layers.LinkTypeEthernet})
		p := writeFile(t, "cut.pcapng", ng[:len(ng)-6])
		s, err := OpenFiles([]string{p}, DefaultFileConfig())
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		checkPackets(t, got, pkts, 1)
		var fe *FileError
		if !errors.As(err, &fe) || !fe.Truncated || fe.Packet != uint64(len(pkts)) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("truncated-gzip-stream", func(t *testing.T) {
		z := gz(t, good)
		p := writeFile(t, "cut.pcap.gz", z[:len(z)-12]) // cuts the gzip trailer and some data
		s, err := OpenFiles([]string{p}, DefaultFileConfig())
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		var fe *FileError
		if !errors.As(err, &fe) || !fe.Truncated || fe.Packet != uint64(len(got)) {
			t.Fatalf("err = %v after %d packets", err, len(got))
		}
		checkPackets(t, got, pkts[:len(got)], 1)
	})
	t.Run("second-file-bad", func(t *testing.T) {
		p1 := writeFile(t, "ok.pcap", good)
		p2 := writeFile(t, "junk.pcap", []byte("not a capture at all"))
		s, err := OpenFiles([]string{p1, p2}, DefaultFileConfig())
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		checkPackets(t, got, pkts, 1)
		if err == nil || !strings.Contains(err.Error(), "junk.pcap") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFileConfigValidate(t *testing.T) {
	if err := DefaultFileConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultFileConfig()
	c.ReadBufferKB = 0
	if c.Validate() == nil {
		t.Fatal("ReadBufferKB 0 accepted")
	}
	if _, err := OpenFiles(nil, DefaultFileConfig()); err == nil {
		t.Fatal("no paths accepted")
	}
}

// failAfter returns its data, then err instead of the rest.
type failAfter struct {
	data []byte
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A read error inside a record's body (a failing disk or pipe) is reported
// as itself, not as a truncated file, whether the record fits the buffer
// or is read past it.
func TestFileReadErrorInRecord(t *testing.T) {
	boom := errors.New("EIO boom")
	base := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, size := range []int{100, 9000} { // within, beyond the 4 KiB buffer
		pkts := mkPackets(3, LinkEthernet, base, time.Millisecond)
		for i := range pkts {
			pkts[i].data = append(pkts[i].data, make([]byte, size)...)
		}
		file := writePcap(t, pkts, false)
		rec := 16 + len(pkts[0].data)
		cfg := DefaultFileConfig()
		cfg.ReadBufferKB = 4
		cfg.Stdin = &failAfter{data: file[:24+rec+16+size/2], err: boom}
		s, err := OpenFiles([]string{"-"}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, s)
		var fe *FileError
		if len(got) != 1 || !errors.As(err, &fe) || !errors.Is(err, boom) || fe.Truncated {
			t.Fatalf("size %d: %d packets, err %v; want 1 packet and the read error, not truncated", size, len(got), err)
		}
	}
}
