package sensor_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/internal/gen"
	"github.com/apisensor/apisensor/internal/testcorpus"
	"github.com/apisensor/apisensor/model"
	"github.com/apisensor/apisensor/sensor"
	"github.com/apisensor/apisensor/storage"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// writeAPICapture generates a seeded API capture into dir and returns its
// path and ground truth.
func writeAPICapture(t testing.TB, dir string, cfg gen.APIConfig) (string, []gen.Transaction) {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("api-%s.pcap", cfg.Encap))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var truth []gen.Transaction
	cfg.Truth = func(tx gen.Transaction) { truth = append(truth, tx) }
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := gen.API(bw, cfg); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, truth
}

// encapCapture writes the 20k-packet, 16-client API capture wrapped in the
// named encapsulation (gen.ParseEncap) into dir.
func encapCapture(t testing.TB, dir, encap string) (string, []gen.Transaction) {
	t.Helper()
	enc, err := gen.ParseEncap(encap)
	if err != nil {
		t.Fatal(err)
	}
	gc := gen.DefaultAPIConfig()
	gc.Packets = 20_000
	gc.Clients = 16
	gc.Encap = enc
	return writeAPICapture(t, dir, gc)
}

// callKey is what the ground truth pins down about a call.
func callKey(src, dst, method, host, uri string, status uint16, req, resp int64, principal string) string {
	return fmt.Sprintf("%s>%s %s %s%s %d req=%d resp=%d %s", src, dst, method, host, uri, status, req, resp, principal)
}

func truthKeys(truth []gen.Transaction) []string {
	var out []string
	for _, tx := range truth {
		out = append(out, callKey(tx.Src.String(), tx.Dst.String(), tx.Method, tx.Host, tx.URI, tx.Status,
			tx.ReqBodyBytes, tx.RespBodyBytes, tx.Principal))
	}
	slices.Sort(out)
	return out
}

func callKeys(calls []*model.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, callKey(c.Src.String(), c.Dst.String(), c.Method, c.Host, c.URI, c.Status,
			c.ReqBody.Bytes, c.RespBody.Bytes, c.Principal.String()))
	}
	slices.Sort(out)
	return out
}

// diffKeys reports the first differences between two sorted lists.
func diffKeys(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	t.Errorf("%d calls, want %d: %d missing, %d extra\nmissing: %s\nextra: %s", len(got), len(want),
		len(missing), len(extra), strings.Join(first(missing, 5), "\n  "), strings.Join(first(extra, 5), "\n  "))
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// Every generated transaction comes out exactly once, under every mirror
// encapsulation the generator can wrap frames in.
func TestGroundTruthEncapsulations(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"none", "vlan", "qinq", "vxlan", "geneve", "gre", "erspan2", "erspan3", "mpls"} {
		t.Run(name, func(t *testing.T) {
			path, truth := encapCapture(t, dir, name)
			cfg := testConfig()
			cfg.Files = []string{path}
			calls, sum := runCapture(t, cfg)
			if len(truth) < 1000 {
				t.Fatalf("generator wrote only %d transactions", len(truth))
			}
			diffKeys(t, callKeys(calls), truthKeys(truth))
			if sum.Gaps != 0 || sum.ParseErrors != 0 {
				t.Errorf("clean capture gave %d gaps, %d parse errors", sum.Gaps, sum.ParseErrors)
			}
		})
	}
}

// The same inner 5-tuples in two VXLAN VNIs are two sets of connections:
// every transaction is reported twice, once per tunnel.
func TestSameFlowsInTwoVNIs(t *testing.T) {
	gc := gen.DefaultAPIConfig()
	gc.Packets = 10_000
	gc.Clients = 8
	gc.Encap = gen.EncapVXLAN
	gc.TunnelID = 7
	gc.DupTunnelID = 8
	path, truth := writeAPICapture(t, t.TempDir(), gc)
	cfg := testConfig()
	cfg.Files = []string{path}
	calls, _ := runCapture(t, cfg)
	tunnels := map[uint64]int{}
	for _, c := range calls {
		tunnels[c.Tunnel]++
	}
	if len(tunnels) != 2 {
		t.Fatalf("calls in %d tunnels, want 2: %v", len(tunnels), tunnels)
	}
	diffKeys(t, callKeys(calls), truthKeys(truth)) // the truth lists each tx once per tunnel
}

// Output is byte-identical across runs and across worker counts.
func TestDeterministicOutput(t *testing.T) {
	gc := gen.DefaultAPIConfig()
	gc.Packets = 30_000
	path, _ := writeAPICapture(t, t.TempDir(), gc)
	var outs [][]byte
	runs := []struct {
		workers int
		inline  sensor.InlineMode
	}{{1, sensor.InlineNever}, {1, sensor.InlineAlways}, {2, 0}, {2, 0}, {3, 0}}
	for _, r := range runs {
		cfg := testConfig()
		cfg.Files = []string{path}
		cfg.Workers = r.workers
		cfg.Inline = r.inline
		cfg.TickEvery = 100 * time.Millisecond
		out, _ := runToFiles(t, cfg)
		outs = append(outs, out)
	}
	for i := 1; i < len(outs); i++ {
		if !bytes.Equal(outs[0], outs[i]) {
			t.Fatalf("run %d differs from run 0 (%d vs %d bytes)", i, len(outs[i]), len(outs[0]))
		}
	}
}

// runToFiles runs cfg into a temporary --out dir and returns all four files
// concatenated, and the run's summary.
func runToFiles(t testing.TB, cfg sensor.Config) ([]byte, sensor.Summary) {
	t.Helper()
	dir := t.TempDir()
	sink, err := storage.NewFiles(storage.FilesConfig{Dir: dir, BufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	sum := runWith(t, cfg, sink)
	var all []byte
	for _, f := range []string{storage.CallsFile, storage.EndpointsFile, storage.FindingsFile, storage.OpenAPIFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all, sum
}

// runWith runs cfg into sink and fails the test on error.
func runWith(t testing.TB, cfg sensor.Config, sink sensor.Sink) sensor.Summary {
	t.Helper()
	s, err := sensor.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(t.Context(), sink)
	if err != nil {
		t.Fatalf("run %v: %v", cfg.Files, err)
	}
	return sum
}

// Without discovery the parser recycles the memory of the calls' strings
// and bodies too (parser.Config.RecycleStrings): calls.jsonl must be the
// full pipeline's but for the template, which only discovery fills in,
// with one worker inline, batched, and with two and three workers (the
// output goroutine then writes while the workers parse into reused chunks).
func TestCallsOnlyMatchesFull(t *testing.T) {
	t.Run("api", func(t *testing.T) {
		gc := gen.DefaultAPIConfig()
		gc.Packets = 30_000
		gc.Seed = 7
		path, _ := writeAPICapture(t, t.TempDir(), gc)
		callsOnlyMatchesFull(t, path)
	})
	t.Run("corpus", func(t *testing.T) {
		pcaps, _ := filepath.Glob(filepath.Join(testcorpus.Suricata(t), "*", "*.pcap"))
		for _, p := range pcaps {
			callsOnlyMatchesFull(t, p)
		}
	})
}

var templateField = regexp.MustCompile(`"template":"[^"]*"`)

func callsOnlyMatchesFull(t *testing.T, path string) {
	cfg := testConfig()
	cfg.Files = []string{path}
	calls, sum := runCalls(t, cfg, false)
	want := templateField.ReplaceAll(calls, []byte(`"template":""`))
	for _, r := range []struct {
		workers int
		inline  sensor.InlineMode
	}{{1, sensor.InlineAlways}, {1, sensor.InlineNever}, {2, 0}, {3, 0}} {
		cfg.Workers, cfg.Inline, cfg.StopAfter = r.workers, r.inline, sensor.StageParse
		// plain: a sink that is no EncodingSink, so the output goroutine
		// reads each Call (not a line the worker encoded) before it goes
		// back to the parser that reuses its memory.
		for _, plain := range []bool{false, true} {
			got, gotSum := runCalls(t, cfg, plain)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s, %d workers (inline %d, plain sink %v): calls.jsonl without discovery differs:\n%s",
					filepath.Base(path), r.workers, r.inline, plain, lineDiff(string(want), string(got)))
			}
			if gotSum.Parser != sum.Parser {
				t.Fatalf("%s, %d workers: parser counters without discovery differ:\n%+v\nwant %+v",
					filepath.Base(path), r.workers, gotSum.Parser, sum.Parser)
			}
		}
	}
}

// runCalls runs cfg into a temporary --out dir and returns calls.jsonl and
// the summary; plain hides that the sink can take lines encoded by the
// workers.
func runCalls(t testing.TB, cfg sensor.Config, plain bool) ([]byte, sensor.Summary) {
	t.Helper()
	dir := t.TempDir()
	files, err := storage.NewFiles(storage.FilesConfig{Dir: dir, BufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var sink sensor.Sink = files
	if plain {
		sink = struct{ sensor.Sink }{files}
	}
	sum := runWith(t, cfg, sink)
	b, err := os.ReadFile(filepath.Join(dir, storage.CallsFile))
	if err != nil {
		t.Fatal(err)
	}
	return b, sum
}

// Calls closed by a timeout or the final flush are all tagged with the
// batch's last packet: those of the same addresses in two VXLAN
// tunnels (unanswered half-open requests) may sit on different workers and
// must still come out in one order whatever the worker count.
func TestDeterministicAcrossTunnels(t *testing.T) {
	ac := gen.AdversarialConfig{Config: gen.DefaultConfig(), HalfOpen: 200, HalfOpenDataEvery: 1}
	ac.Encap, ac.TunnelID, ac.DupTunnelID = gen.EncapVXLAN, 100, 200
	path := filepath.Join(t.TempDir(), "tunnels.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Adversarial(f, ac); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var outs [][]byte
	for _, workers := range []int{1, 2, 3} {
		cfg := testConfig()
		cfg.Files = []string{path}
		cfg.Workers = workers
		out, sum := runToFiles(t, cfg)
		if sum.Calls < 400 {
			t.Fatalf("%d calls, want the 200 half-open requests in each of 2 tunnels", sum.Calls)
		}
		outs = append(outs, out)
	}
	for i := 1; i < len(outs); i++ {
		if !bytes.Equal(outs[0], outs[i]) {
			t.Fatalf("%d workers: output differs from 1 worker's", i+1)
		}
	}
}

// snapCopy writes the classic pcap src to dst as a capture with snap length
// snap would have: every record cut to snap bytes, its original length
// kept.
func snapCopy(t testing.TB, src, dst string, snap int) {
	t.Helper()
	copyCapture(t, src, dst, func(_ uint32, lt layers.LinkType) (uint32, layers.LinkType) { return uint32(snap), lt },
		func(data []byte, ci *gopacket.CaptureInfo) []byte {
			if len(data) > snap {
				data = data[:snap]
			}
			ci.CaptureLength = len(data)
			return data
		})
}

// copyCapture writes the classic pcap src to dst: the file header's snap
// length and link type through head, every record through edit (which
// sets the record's lengths).
func copyCapture(t testing.TB, src, dst string, head func(snap uint32, lt layers.LinkType) (uint32, layers.LinkType),
	edit func(data []byte, ci *gopacket.CaptureInfo) []byte) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(bufio.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(out)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(head(r.Snaplen(), r.LinkType())); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data = edit(data, &ci)
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A capture taken with a short snap length (tcpdump -s) loses the tail of
// every long segment. The lost bytes are gaps known at once from the IP
// length (Decoded.Cut), so each transaction still comes out with its
// request line, Host and status, paired right, even though bearer tokens
// and most bodies are gone: the same (src, dst, method, host, uri, status)
// as the ground truth, with the gaps flagged and counted.
func TestSnapLengthCapture(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		encap string
		snap  int
	}{{"none", 200}, {"none", 400}, {"vxlan", 300}, {"erspan3", 300}} {
		t.Run(fmt.Sprintf("%s-%d", tc.encap, tc.snap), func(t *testing.T) {
			full, truth := encapCapture(t, dir, tc.encap)
			cut := filepath.Join(dir, fmt.Sprintf("snap-%s-%d.pcap", tc.encap, tc.snap))
			snapCopy(t, full, cut, tc.snap)
			cfg := testConfig()
			cfg.Files = []string{cut}
			calls, sum := runCapture(t, cfg)
			var got, want []string
			gapped := 0
			for _, c := range calls {
				got = append(got, fmt.Sprintf("%s>%s %s %s%s %d", c.Src, c.Dst, c.Method, c.Host, c.URI, c.Status))
				if c.Flags&(model.FlagReqGap|model.FlagRespGap) != 0 {
					gapped++
				}
			}
			for _, tx := range truth {
				want = append(want, fmt.Sprintf("%s>%s %s %s%s %d", tx.Src, tx.Dst, tx.Method, tx.Host, tx.URI, tx.Status))
			}
			slices.Sort(got)
			slices.Sort(want)
			diffKeys(t, got, want)
			if gapped == 0 || sum.Gaps == 0 || sum.MissedBytes == 0 {
				t.Errorf("snap length %d: %d calls flagged, %d gaps, %d bytes missed; want all > 0", tc.snap, gapped, sum.Gaps, sum.MissedBytes)
			}
			// Every missed byte is a known cut, found at once: none waited
			// for an acknowledgement or a cap.
			if r := sum.Reassembly; r.SnapCutBytes != r.MissedBytes || r.AckGaps != 0 || r.CapGaps != 0 {
				t.Errorf("snap cut %d of %d missed bytes, %d ack gaps, %d cap gaps", r.SnapCutBytes, r.MissedBytes, r.AckGaps, r.CapGaps)
			}
			t.Logf("snap %d, %s: %d/%d transactions, %d flagged with a gap, %d gaps, %d bytes missed",
				tc.snap, tc.encap, len(calls), len(truth), gapped, sum.Gaps, sum.MissedBytes)
		})
	}
}
