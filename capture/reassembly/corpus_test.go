package reassembly

import (
	"encoding/json"
	"errors"
	"github.com/apisensor/apisensor/internal/testcorpus"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apisensor/apisensor/capture"
)

type corpusCase struct {
	Pcap   string `json:"pcap"`
	Checks []struct {
		Count int            `json:"count"`
		Match map[string]any `json:"match"`
	} `json:"checks"`
}

// readCorpusPcap reads a pcap with the capture package's source and
// decoder (link types, VLAN, PPPoE, Teredo, Cisco HDLC) into TCP packets;
// payloads are copied since the source reuses its buffer.
func readCorpusPcap(path string) ([]*capture.Decoded, error) {
	src, err := capture.OpenFiles([]string{path}, capture.DefaultFileConfig())
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dec := capture.NewDecoder(capture.DefaultDecoderConfig())
	var out []*capture.Decoded
	for {
		var p capture.Packet
		if err := src.Next(&p); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		d := new(capture.Decoded)
		if !dec.Decode(&p, d) || d.Proto != 6 {
			continue
		}
		d.Payload = append([]byte(nil), d.Payload...)
		out = append(out, d)
	}
}

// runCorpus reassembles one pcap, checking invariants after every packet
// and calling Tick at packet time as the pipeline would.
func runCorpus(t *testing.T, path string) (*Assembler, *recFactory) {
	t.Helper()
	pkts, err := readCorpusPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) == 0 {
		t.Skipf("%s: no TCP packet decoded", path)
	}
	a, f := newTest(t, nil)
	for _, d := range pkts {
		a.Tick(d.TS)
		a.Packet(d)
		checkInvariants(t, a)
	}
	a.FlushAll(pkts[len(pkts)-1].TS)
	st := a.Stats()
	if st.Conns != 0 || st.BufferedBytes != 0 {
		t.Fatalf("after FlushAll: %+v", st)
	}
	for _, s := range f.streams {
		if !s.closed {
			t.Fatalf("stream %v left open", s.meta.Client)
		}
	}
	return a, f
}

// TestCorpus reassembles every suricata-verify pcap. Beyond the invariants,
// every URL the case's expectations name (http.url with count > 0) must
// appear in a reassembled stream: the request bytes reached the parser.
func TestCorpus(t *testing.T) {
	dir := testcorpus.Suricata(t)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cc corpusCase
			if err := json.Unmarshal(raw, &cc); err != nil {
				t.Fatalf("expected.json: %v", err)
			}
			a, f := runCorpus(t, filepath.Join(dir, e.Name(), cc.Pcap))
			for _, ch := range cc.Checks {
				u, ok := ch.Match["http.url"].(string)
				if !ok || ch.Count == 0 {
					continue
				}
				found := false
				for _, s := range f.streams {
					found = found || hasTarget(s.text(c2s), u) || hasTarget(s.text(s2c), u)
				}
				if !found {
					t.Errorf("URL %q not in any reassembled stream", u)
				}
			}
			st := a.Stats()
			t.Logf("streams %d delivered %d missed %d gaps %d ooo %d rexmit %d resets %d/%d portreuse %d",
				len(f.streams), st.DeliveredBytes, st.MissedBytes, st.GapEvents, st.OutOfOrderSegments,
				st.Retransmits, st.Resets, st.ResetsCancelled, st.PortReuse)
		})
	}
}

// hasTarget reports whether text holds request-target u after a space and
// followed by a space, a line end, or the end of the stream (HTTP/0.9).
func hasTarget(text, u string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], " "+u)
		if j < 0 {
			return false
		}
		end := i + j + 1 + len(u)
		if end == len(text) || text[end] == ' ' || text[end] == '\r' || text[end] == '\n' {
			return true
		}
		i += j + 1
	}
}

// dataStreams returns, per stream that carried bytes, its two directions.
func dataStreams(f *recFactory) []string {
	var out []string
	for _, s := range f.streams {
		if c, r := s.text(c2s), s.text(s2c); c != "" || r != "" {
			out = append(out, c+"\x00"+r)
		}
	}
	sort.Strings(out)
	return out
}

// TestCorpusEvasionMatchesBaseline: the bug-3286 pcaps carry the same HTTP
// session, twice with spurious RST/FIN before the handshake completes. The
// reassembled bytes must equal the no-evasion baseline's.
func TestCorpusEvasionMatchesBaseline(t *testing.T) {
	dir := testcorpus.Suricata(t)
	_, base := runCorpus(t, filepath.Join(dir, "bug-3286-01-no-evasion", "without_evasion.pcap"))
	want := dataStreams(base)
	if len(want) != 1 || !strings.Contains(want[0], "HTTP/") {
		t.Fatalf("baseline: %d data streams", len(want))
	}
	_, f := runCorpus(t, filepath.Join(dir, "bug-3286-02-linux-evasion", "with_evasion_linux.pcap"))
	if got := dataStreams(f); len(got) != 1 || got[0] != want[0] {
		t.Errorf("linux evasion: %d data streams, differ from baseline: %q vs %q", len(got), got, want)
	}
	// The Windows capture was made with another browser: the request
	// differs, the response must not, and the request must be whole.
	_, f = runCorpus(t, filepath.Join(dir, "bug-3286-03-windows-evasion", "with_evasion_windows.pcap"))
	got := dataStreams(f)
	if len(got) != 1 {
		t.Fatalf("windows evasion: %d data streams", len(got))
	}
	req, resp, _ := strings.Cut(got[0], "\x00")
	_, wantResp, _ := strings.Cut(want[0], "\x00")
	if resp != wantResp || !strings.HasPrefix(req, "GET ") || !strings.HasSuffix(req, "\r\n\r\n") {
		t.Errorf("windows evasion: request %q response %q, baseline response %q", req, resp, wantResp)
	}
}
