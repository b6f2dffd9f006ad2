package sensor_test

import (
	"encoding/json"
	"fmt"
	"github.com/apisensor/apisensor/internal/testcorpus"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apisensor/apisensor/model"
	"github.com/apisensor/apisensor/sensor"
)

type expectation struct {
	Source         string          `json:"source"`
	Pcap           string          `json:"pcap"`
	EdgeCase       string          `json:"edge_case"`
	ExpectedHTTPTx json.RawMessage `json:"expected_http_tx"`
	SuricataArgs   []string        `json:"suricata_args"`
	Checks         []struct {
		Count int            `json:"count"`
		Match map[string]any `json:"match"`
	} `json:"checks"`
}

// memSink keeps calls in memory so the test can look at every field.
type memSink struct{ calls []*model.Call }

func (m *memSink) WriteCall(c *model.Call) error { m.calls = append(m.calls, c.Clone()); return nil }
func (m *memSink) Finish([]model.Endpoint, []model.Finding, []byte) error {
	return nil
}

// testConfig is the default config with a test HMAC key and two workers.
func testConfig() sensor.Config {
	cfg := sensor.DefaultConfig()
	cfg.Workers = 2
	cfg.Parser.HMACKey = []byte("apisensor-test-hmac-key")
	return cfg
}

func runCapture(t testing.TB, cfg sensor.Config) ([]*model.Call, sensor.Summary) {
	t.Helper()
	var sink memSink
	sum := runWith(t, cfg, &sink)
	return sink.calls, sum
}

// flatten turns nested match objects into dotted keys, as INDEX.md says to
// read them.
func flatten(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", sub, out)
			continue
		}
		out[prefix+k] = v
	}
}

var indexed = regexp.MustCompile(`^http\.(request|response)_headers\[(\d+)\]\.(name|value)$`)

// matchKey reports whether call c satisfies one match key. known is false
// for Suricata envelope keys the sensor has no equivalent of (they are then
// not compared, as INDEX.md says).
func matchKey(c *model.Call, txID int, key string, want any) (ok, known bool) {
	str := func(got string) bool { return got == fmt.Sprint(want) }
	num := func(got int64) bool {
		f, isNum := want.(float64)
		return isNum && int64(f) == got
	}
	switch key {
	case "event_type", "pcap_cnt", "pkt_src", "ether.src_mac", "ether.dest_mac", "fileinfo.filename", "has-key", "not-has-key":
		return true, false
	case "http.url":
		return str(c.URI), true
	case "http.hostname":
		return str(c.Host), true
	case "http.http_method":
		return str(c.Method), true
	case "http.status":
		return num(int64(c.Status)), true
	case "http.status_string":
		return str(c.StatusText), true
	case "http.protocol":
		return str(c.Proto), true
	case "http.length":
		return num(c.RespBody.Bytes), true
	case "http.http_user_agent":
		return str(c.UserAgent), true
	case "http.http_content_type":
		// Suricata logs the media type without parameters.
		ct, _, _ := strings.Cut(c.RespHeaders.Get("Content-Type"), ";")
		return str(strings.TrimSpace(ct)), true
	case "http.http_refer":
		return str(c.ReqHeaders.Get("Referer")), true
	case "http.redirect":
		return str(c.RespHeaders.Get("Location")), true
	case "http.request_headers.__len":
		return num(int64(len(c.ReqHeaders))), true
	case "http.response_headers.__len":
		return num(int64(len(c.RespHeaders))), true
	case "http.http2.stream_id":
		return false, true // HTTP/2 is never parsed as such; a count-0 filter passes
	case "proto":
		return strings.EqualFold(fmt.Sprint(want), "TCP"), true
	case "src_ip":
		return addrEq(c.Src.Addr(), want), true
	case "dest_ip":
		return addrEq(c.Dst.Addr(), want), true
	case "src_port":
		return num(int64(c.Src.Port())), true
	case "dest_port":
		return num(int64(c.Dst.Port())), true
	case "tx_id":
		return num(int64(txID)), true
	case "vlan[0]":
		return true, false
	}
	if m := indexed.FindStringSubmatch(key); m != nil {
		hs := c.ReqHeaders
		if m[1] == "response" {
			hs = c.RespHeaders
		}
		i, _ := strconv.Atoi(m[2])
		if i >= len(hs) {
			return false, true
		}
		if m[3] == "name" {
			return str(hs[i].Name), true
		}
		return str(hs[i].Value), true
	}
	return true, false
}

func addrEq(got netip.Addr, want any) bool {
	w, err := netip.ParseAddr(fmt.Sprint(want))
	return err == nil && w.Unmap() == got.Unmap()
}

// knownDivergences are corpus cases where the sensor knowingly differs from
// Suricata's recorded output, with the reason. The test fails when a case
// not listed here diverges, and when a listed case starts to pass (so the
// list stays true).
var knownDivergences = map[string]string{}

type caseResult struct {
	name           string
	expectedTx     int // -1 unknown
	gotTx          int
	checks, passed int
	failures       []string
}

func TestConformanceSuricataCorpus(t *testing.T) {
	dir := testcorpus.Suricata(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var results []caseResult
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		raw, err := os.ReadFile(filepath.Join(dir, name, "expected.json"))
		if err != nil {
			t.Fatal(err)
		}
		var exp expectation
		if err := json.Unmarshal(raw, &exp); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cfg := testConfig()
		cfg.Files = []string{filepath.Join(dir, name, "input.pcap")}
		if _, err := os.Stat(cfg.Files[0]); err != nil {
			cfg.Files = []string{filepath.Join(dir, name, exp.Pcap)}
		}
		for _, a := range exp.SuricataArgs {
			// The one Suricata setting with a sensor equivalent.
			if strings.Contains(a, "vlan.use-for-tracking=false") {
				cfg.Dec.VLANInFlowKey = false
			}
		}
		calls, _ := runCapture(t, cfg)
		r := caseResult{name: name, expectedTx: -1, gotTx: len(calls)}
		if n, err := strconv.Atoi(string(exp.ExpectedHTTPTx)); err == nil {
			r.expectedTx = n
		}
		// tx_id: index of the call within its connection; Suricata starts
		// again at 0 inside a CONNECT tunnel.
		txIDs := make([]int, len(calls))
		perConn := map[[2]netip.AddrPort]int{}
		for i, c := range calls {
			k := [2]netip.AddrPort{c.Src, c.Dst}
			txIDs[i] = perConn[k]
			perConn[k]++
			if c.Flags&model.FlagConnect != 0 {
				perConn[k] = 0
			}
		}
		for _, chk := range exp.Checks {
			flat := map[string]any{}
			flatten("", chk.Match, flat)
			if et, _ := flat["event_type"].(string); et != "" && et != "http" && et != "fileinfo" {
				continue
			}
			r.checks++
			keys := make([]string, 0, len(flat))
			for k := range flat {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			n := 0
			var missed []string // per call, the first key it did not match
			for i, c := range calls {
				all := true
				for _, k := range keys {
					ok, _ := matchKey(c, txIDs[i], k, flat[k])
					if !ok {
						all = false
						missed = append(missed, k)
						break
					}
				}
				if all {
					n++
				}
			}
			if n == chk.Count {
				r.passed++
			} else {
				b, _ := json.Marshal(chk.Match)
				r.failures = append(r.failures, fmt.Sprintf("want %d got %d of %s (first key missed per call: %v)", chk.Count, n, b, missed))
			}
		}
		results = append(results, r)
	}

	// The score: an expected transaction counts as matched when its case's
	// checks all pass and the case yields exactly the expected number of
	// calls.
	var expTotal, matched, checks, passed int
	var report []string
	for _, r := range results {
		checks += r.checks
		passed += r.passed
		ok := r.passed == r.checks && (r.expectedTx < 0 || r.gotTx == r.expectedTx)
		if r.expectedTx > 0 {
			expTotal += r.expectedTx
			if ok {
				matched += r.expectedTx
			}
		}
		reason, known := knownDivergences[r.name]
		switch {
		case ok && known:
			t.Errorf("%s: listed as a known divergence (%s) but now passes: remove it from the list", r.name, reason)
		case !ok && !known:
			t.Errorf("%s: %d calls (expected %d); %d/%d checks: %s", r.name, r.gotTx, r.expectedTx, r.passed, r.checks, strings.Join(r.failures, "; "))
		case !ok:
			report = append(report, fmt.Sprintf("  %-28s known divergence: %s", r.name, reason))
		}
	}
	sort.Strings(report)
	rate := 100 * float64(matched) / float64(max(expTotal, 1))
	t.Logf("conformance: %d/%d expected transactions matched (%.1f%%), %d/%d checks passed, %d cases",
		matched, expTotal, rate, passed, checks, len(results))
	for _, l := range report {
		t.Log(l)
	}
	if rate < 99 {
		t.Errorf("match rate %.1f%% is below the 99%% goal", rate)
	}
}
