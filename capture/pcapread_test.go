package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/apisensor/apisensor/internal/testcorpus"
)

type pcapRecord struct {
	data         []byte
	ts           time.Time
	capLen, size int
}

// readAllPcap reads every record with the hand reader (fromPcapgo false)
// or with pcapgo, and says how the file ended: "eof" when cleanly between
// records, "truncated" for a record or header cut short, "error" for any
// other error (a bad header or length), "header" when the file header
// itself was refused.
func readAllPcap(data []byte, bufSize int, fromPcapgo bool) ([]pcapRecord, string) {
	src := bytes.NewReader(data)
	br := bufio.NewReaderSize(src, bufSize)
	// pos is where the next read starts; an io.EOF after the reader
	// consumed part of a record is a truncation (FileSource does the same).
	pos := func() int { return len(data) - src.Len() - br.Buffered() }
	var rd packetReader
	if fromPcapgo {
		// pcapgo sniffs gzip itself; the source strips it before either
		// reader sees the stream, so give pcapgo only non-gzip input.
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return nil, "header"
		}
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, "header"
		}
		rd = r
	} else {
		r, err := newPcapReader(br)
		if err != nil {
			return nil, "header"
		}
		rd = r
	}
	var out []pcapRecord
	for {
		start := pos()
		d, ci, err := rd.ZeroCopyReadPacketData()
		switch {
		case err == io.EOF && pos() != start:
			return out, "truncated"
		case err == io.EOF:
			return out, "eof"
		case errors.Is(err, io.ErrUnexpectedEOF):
			return out, "truncated"
		case err != nil:
			return out, "error"
		}
		out = append(out, pcapRecord{bytes.Clone(d), ci.Timestamp, ci.CaptureLength, ci.Length})
	}
}

// diffPcapReaders fails the test where the hand reader and pcapgo disagree:
// on a record, or on how the file ends.
func diffPcapReaders(t testing.TB, name string, data []byte, bufSize int) {
	t.Helper()
	got, gotEnd := readAllPcap(data, bufSize, false)
	want, wantEnd := readAllPcap(data, bufSize, true)
	if wantEnd == "header" && gotEnd == "header" {
		return
	}
	if len(got) != len(want) || gotEnd != wantEnd {
		t.Fatalf("%s (buffer %d): hand reader %d records then %s, pcapgo %d then %s", name, bufSize, len(got), gotEnd, len(want), wantEnd)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.data, w.data) || g.capLen != w.capLen || g.size != w.size {
			t.Fatalf("%s (buffer %d): record %d differs", name, bufSize, i)
		}
		if !g.ts.Equal(w.ts) || g.ts.Location() != w.ts.Location() {
			t.Fatalf("%s (buffer %d): record %d time %v vs %v", name, bufSize, i, g.ts, w.ts)
		}
	}
}

// The hand-written classic pcap reader returns what pcapgo returns, and
// ends the same way, on every classic pcap of the public corpus, on
// generated files in both byte orders and resolutions, on each of them cut
// at every length, and with records longer than the read buffer.
func TestPcapReaderMatchesPcapgo(t *testing.T) {
	base := time.Unix(1700000000, 123456000)
	pk := mkPackets(40, LinkEthernet, base, 1500*time.Microsecond)
	files := map[string][]byte{
		"us":      writePcap(t, pk, false),
		"ns":      writePcap(t, pk, true),
		"us-swap": swapPcap(writePcap(t, pk, false)),
	}
	big := mkPackets(3, LinkEthernet, base, time.Millisecond)
	big[1].data = bytes.Repeat([]byte("0123456789abcdef"), 600) // 9600 bytes: more than a 4 KiB buffer
	files["long-record"] = writePcap(t, big, false)
	bad := writePcap(t, pk, false)
	binary.LittleEndian.PutUint32(bad[24+8:], 70000) // capture length beyond snap length and wire length
	files["bad-caplen"] = bad
	bad2 := writePcap(t, pk, false)
	binary.LittleEndian.PutUint32(bad2[24+8:], 300000) // beyond 256 KiB
	files["huge-caplen"] = bad2
	files["bad-version"] = append(append([]byte(nil), files["us"][:4]...), append([]byte{3, 0}, files["us"][6:]...)...)

	if dir, ok := corpusDir(t); ok {
		matches, _ := filepath.Glob(filepath.Join(dir, "*", "*.pcap"))
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) >= 4 && binary.LittleEndian.Uint32(b) != 0x0A0D0D0A {
				files[filepath.Base(filepath.Dir(m))] = b
			}
		}
	}
	for name, b := range files {
		for _, size := range []int{4096, 256 << 10} {
			diffPcapReaders(t, name, b, size)
		}
	}
	// Every truncation of the small files.
	for _, name := range []string{"us", "ns", "us-swap", "long-record"} {
		b := files[name]
		for n := 0; n < len(b); n++ {
			diffPcapReaders(t, name, b[:n], 4096)
		}
	}
	t.Logf("%d files agree", len(files))
}

// corpusDir is the public corpus when it is beside the repository.
func corpusDir(t *testing.T) (dir string, ok bool) {
	t.Run("corpus", func(t *testing.T) { dir = testcorpus.Suricata(t); ok = true })
	return dir, ok
}

// FuzzPcapReader: on any input the hand reader and pcapgo agree.
func FuzzPcapReader(f *testing.F) {
	addPcapSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		diffPcapReaders(t, "fuzz", data, 4096)
	})
}
