package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apisensor/apisensor/internal/netnstest"
	"github.com/apisensor/apisensor/parser"
	"github.com/apisensor/apisensor/sensor"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = realMain(args, &o, &e)
	return code, o.String(), e.String()
}

// The README's demo command, through the CLI: four files, a summary, the
// spec's states.
func TestRunDemo(t *testing.T) {
	out := t.TempDir()
	stats := filepath.Join(out, "stats.json")
	code, _, stderr := run(t, "run", "-r", "../../testdata/demo/demo.pcap", "--spec", "../../testdata/demo/api.yaml",
		"--out", out, "--stats-json", stats, "--progress", "never", "--log-level", "warn")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "calls 232") || strings.Contains(stderr, "interrupted") {
		t.Errorf("summary does not report the 232 calls of a complete run:\n%s", stderr)
	}
	var eps []struct{ State string }
	b, err := os.ReadFile(filepath.Join(out, "endpoints.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &eps); err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, e := range eps {
		states[e.State]++
	}
	for _, s := range []string{"documented", "shadow", "zombie", "unused", "observed"} {
		if states[s] == 0 {
			t.Errorf("no %s endpoint in %v", s, states)
		}
	}
	var st struct {
		Packets uint64  `json:"packets"`
		Calls   uint64  `json:"calls"`
		Elapsed float64 `json:"elapsed_sec"`
	}
	b, err = os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Packets != 822 || st.Calls != 232 {
		t.Errorf("stats %+v (%v)", st, err)
	}
}

// A signal during a file run ends it with the output of what was read and
// a summary that says the input was not read to the end.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the signal came before the first packet
	var stderr bytes.Buffer
	out := t.TempDir()
	err := runCmd(ctx, []string{"-r", "../../testdata/demo/demo.pcap", "--out", out, "--progress", "never", "--log-level", "warn"}, io.Discard, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	// How far the reader got depends on its read-ahead.
	if !regexp.MustCompile(`\n  interrupted: 0\.[0-2] of 0\.3 MB of input read; the output holds what was read\n`).MatchString(stderr.String()) {
		t.Errorf("summary of an interrupted run:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "calls.jsonl")); err != nil {
		t.Error(err)
	}
}

// --out - streams calls.jsonl to stdout.
func TestRunToStdout(t *testing.T) {
	code, stdout, stderr := run(t, "run", "-r", "../../testdata/demo/demo.pcap", "--out", "-", "--progress", "never")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 232 {
		t.Errorf("%d lines on stdout, want 232", n)
	}
}

// Bad input says what is wrong and where, with exit 1 (runtime) or 2
// (usage).
func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte("not a capture at all"), 0o644)
	brokenSpec := filepath.Join(dir, "broken.yaml")
	os.WriteFile(brokenSpec, []byte("openapi: 3.0.0\npaths: [\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, 2, "no input"},
		{[]string{"run", "-r", filepath.Join(dir, "missing.pcap"), "--out", dir}, 1, "missing.pcap"},
		{[]string{"run", "-r", garbage, "--out", dir}, 1, "not a pcap or pcapng file"},
		{[]string{"run", "-r", "../../testdata/demo/demo.pcap", "--spec", brokenSpec, "--out", dir}, 1, "broken.yaml"},
		{[]string{"run", "-r", "x.pcap", "--stop-after", "nowhere"}, 2, "unknown stage"},
		{[]string{"run", "-r", "x.pcap", "--trusted-proxy", "nonsense"}, 2, "--trusted-proxy"},
		{[]string{"run", "-r", "x.pcap", "--filter", "icmp[0] = 8"}, 2, "tcpdump -ddd"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// summaryText is the end-of-run summary printSummary writes for s.
func summaryText(s sensor.Summary) string {
	var b bytes.Buffer
	printSummary(&b, s, time.Second, "out")
	return b.String()
}

// The summary says how much of the missed bytes a short snap length cut,
// and says nothing of it when there is none.
func TestSummarySnapCut(t *testing.T) {
	var s sensor.Summary
	s.Gaps, s.MissedBytes = 3, 900
	if got := summaryText(s); strings.Contains(got, "snap length") || !strings.Contains(got, "gaps 3 (900 bytes missed), drops 0") {
		t.Errorf("without cuts:\n%s", got)
	}
	s.Reassembly.SnapCutBytes = 600
	if got := summaryText(s); !strings.Contains(got, "gaps 3 (900 bytes missed, 600 of them cut by the capture's snap length), drops 0") {
		t.Errorf("with cuts:\n%s", got)
	}
}

// h2c connections are counted in the summary, and not mentioned when
// there are none.
func TestSummaryHTTP2(t *testing.T) {
	var s sensor.Summary
	if got := summaryText(s); strings.Contains(got, "HTTP/2") {
		t.Errorf("summary without h2c connections:\n%s", got)
	}
	s.Parser.HTTP2 = 3
	if got := summaryText(s); !strings.Contains(got, "drops 0, HTTP/2 connections 3 (not parsed)\n") {
		t.Errorf("summary with h2c connections:\n%s", got)
	}
}

// A link flap is reported as resumed only when the run did not end on
// that interface.
func TestSummaryLinkDowns(t *testing.T) {
	var s sensor.Summary
	s.LinkDowns = 2
	if got := summaryText(s); !strings.Contains(got, ", interface went down 2 time(s) (capture resumed)\n") {
		t.Errorf("flaps the capture survived:\n%s", got)
	}
	s.LinkDowns, s.InputError = 1, "capture: interface veth0 was removed while capturing"
	if got := summaryText(s); !strings.Contains(got, ", interface went down 1 time(s)\n") || strings.Contains(got, "resumed") {
		t.Errorf("a run that ended on the interface:\n%s", got)
	}
}

// Parse errors are named by reason in the summary and in --stats-json.
func TestSummaryParseErrorReasons(t *testing.T) {
	var s sensor.Summary
	s.Parser.Errors[parser.ReasonBadHeader] = 105
	s.Parser.Errors[parser.ReasonBadContentLength] = 5
	s.ParseErrors = 110
	if got := summaryText(s); !strings.Contains(got, "parse errors 110 (bad_header 105, bad_content_length 5), gaps 0") {
		t.Errorf("summary:\n%s", got)
	}
	s.Parser.Errors, s.ParseErrors = parser.ErrorCounts{}, 0
	if got := summaryText(s); !strings.Contains(got, "parse errors 0, gaps 0") {
		t.Errorf("summary without errors:\n%s", got)
	}

	js, err := json.Marshal(sensor.Summary{Parser: parser.Stats{Errors: parser.ErrorCounts{parser.ReasonBadChunk: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Parser struct{ Errors map[string]uint64 } `json:"parser"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Parser.Errors) != int(parser.NumReasons) || back.Parser.Errors["bad_chunk"] != 7 || back.Parser.Errors["bad_header"] != 0 {
		t.Errorf("stats JSON errors: %v", back.Parser.Errors)
	}
	var again sensor.Summary
	if err := json.Unmarshal(js, &again); err != nil || again.Parser.Errors[parser.ReasonBadChunk] != 7 {
		t.Errorf("round trip: %v %v", again.Parser.Errors, err)
	}
}

// Live capture that stops because its interface went away is a failure a
// supervisor must see: exit 1, after the summary of what was read.
func TestRunLiveInterfaceRemoved(t *testing.T) {
	wire := netnstest.New(t)
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.code, r.stdout, r.stderr = run(t, "run", "-i", wire.Host, "--workers", "1", "--out", t.TempDir(), "--progress", "never", "--log-level", "warn")
		done <- r
	}()
	// Remove it once the socket is set up: promiscuous mode is the last
	// step that needs the interface (flags gain IFF_PROMISC). One worker,
	// so there is one socket to wait for.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile("/sys/class/net/" + wire.Host + "/flags")
		if err != nil {
			t.Fatal(err)
		}
		if flags, err := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 32); err == nil && flags&syscall.IFF_PROMISC != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the interface is not in promiscuous mode after 5 s")
		}
	}
	if err := wire.RemoveHost(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.stderr, "apisensor: live capture stopped: capture: interface "+wire.Host+" was removed while capturing") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("live run went on after its interface was removed")
	}
}
