package gen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

var update = flag.Bool("update", false, "rewrite testdata/demo/demo.pcap and demo.truth.jsonl")

// demoDir is testdata/demo at the repository root.
func demoDir(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "demo")
}

func genDemo(t testing.TB, cfg DemoConfig) ([]byte, Summary, []Transaction) {
	t.Helper()
	var truth []Transaction
	cfg.Truth = func(tx Transaction) { truth = append(truth, tx) }
	var buf bytes.Buffer
	sum, err := Demo(&buf, cfg)
	if err != nil {
		t.Fatalf("Demo: %v", err)
	}
	return buf.Bytes(), sum, truth
}

// TestDemoCommittedFileIsReproducible regenerates the README demo capture and
// its ground truth and requires them byte-identical to the committed files
// (go test ./internal/gen -run Reproducible -update rewrites them).
func TestDemoCommittedFileIsReproducible(t *testing.T) {
	pcap, _, truth := genDemo(t, DefaultDemoConfig())
	var tb bytes.Buffer
	tw := NewTruthWriter(&tb)
	for _, tx := range truth {
		tw.Add(tx)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"demo.pcap": pcap, "demo.truth.jsonl": tb.Bytes()}
	for name, want := range files {
		path := filepath.Join(demoDir(t), name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with -update)", err)
		}
		if sha256.Sum256(got) != sha256.Sum256(want) {
			t.Fatalf("%s differs from a fresh Demo(DefaultDemoConfig()) (%d vs %d bytes); regenerate with -update", name, len(got), len(want))
		}
	}
	// The committed truth must read back as what was generated.
	back, err := ReadTruth(bytes.NewReader(tb.Bytes()))
	if err != nil || len(back) != len(truth) {
		t.Fatalf("ReadTruth: %d of %d, %v", len(back), len(truth), err)
	}
	for i := range back {
		if !sameTx(back[i], truth[i]) || back[i].Conn != truth[i].Conn || back[i].RespSegments != truth[i].RespSegments {
			t.Fatalf("truth line %d round-trips as %+v, want %+v", i+1, back[i], truth[i])
		}
	}
}

func TestDemoGroundTruth(t *testing.T) {
	for _, e := range []Encap{EncapNone, EncapGeneve} {
		t.Run(e.String(), func(t *testing.T) {
			cfg := DefaultDemoConfig()
			cfg.Encap = e
			pcap, sum, truth := genDemo(t, cfg)
			frames := readFrames(t, pcap)
			checkFrames(t, cfg.Config, sum, frames)
			checkTruth(t, truth, reparse(t, frames), true)
		})
	}
}

// specOp is one operation of the demo spec, with its path as a regexp.
type specOp struct {
	method, path string
	re           *regexp.Regexp
	deprecated   bool
	secured      bool
	calls        int
}

func loadDemoSpec(t *testing.T) []*specOp {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(demoDir(t), "api.yaml"))
	if err != nil {
		t.Fatalf("load api.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api.yaml is not valid OpenAPI 3: %v", err)
	}
	if len(doc.Servers) != 1 || !strings.HasSuffix(doc.Servers[0].URL, "//"+DemoHost) {
		t.Fatalf("api.yaml server %v, want %s", doc.Servers, DemoHost)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	var ops []*specOp
	for path, item := range doc.Paths.Map() {
		var pat strings.Builder
		for i, lit := range param.Split(path, -1) {
			if i > 0 {
				pat.WriteString(`[^/]+`)
			}
			pat.WriteString(regexp.QuoteMeta(lit))
		}
		re := regexp.MustCompile("^" + pat.String() + "$")
		for method, op := range item.Operations() {
			secured := len(doc.Security) > 0
			if op.Security != nil {
				secured = len(*op.Security) > 0
			}
			ops = append(ops, &specOp{method: method, path: path, re: re, deprecated: op.Deprecated, secured: secured})
		}
	}
	return ops
}

// match finds the operation for a call, preferring a literal path over a
// templated one (as OpenAPI requires).
func match(ops []*specOp, method, path string) *specOp {
	var best *specOp
	for _, op := range ops {
		if op.method != method || !op.re.MatchString(path) {
			continue
		}
		if best == nil || !strings.Contains(op.path, "{") {
			best = op
		}
	}
	return best
}

// TestDemoExercisesTheSpec checks the demo holds every situation the README
// promises, computed from the spec and the ground truth.
func TestDemoExercisesTheSpec(t *testing.T) {
	ops := loadDemoSpec(t)
	pcap, _, truth := genDemo(t, DefaultDemoConfig())
	if len(pcap) > 300_000 {
		t.Errorf("demo capture is %d bytes, want at most 300 KB", len(pcap))
	}
	if len(truth) < 200 || len(truth) > 600 {
		t.Errorf("demo holds %d calls, want a few hundred", len(truth))
	}
	undocumented := map[string]bool{}
	var otherHost, unauthPII int
	enum := map[string][]int{} // principal -> ids of GET /api/v2/users/{id} in order
	for _, tx := range truth {
		if tx.Host == DemoOtherHost {
			otherHost++
			continue
		}
		if tx.Host != DemoHost {
			t.Fatalf("call to unexpected host %q", tx.Host)
		}
		path, _, _ := strings.Cut(tx.URI, "?")
		op := match(ops, tx.Method, path)
		if op == nil {
			undocumented[tx.Method+" "+path] = true
			continue
		}
		op.calls++
		if op.secured && strings.HasPrefix(tx.Principal, "ip:") && tx.Status == 200 {
			unauthPII++
		}
		if rest, ok := strings.CutPrefix(path, "/api/v2/users/"); ok {
			if id, err := strconv.Atoi(rest); err == nil {
				enum[tx.Principal] = append(enum[tx.Principal], id)
			}
		}
	}
	var deprecatedCalled, unused int
	for _, op := range ops {
		if op.deprecated && op.calls > 0 {
			deprecatedCalled++
		}
		if op.calls == 0 {
			unused++
		}
	}
	if deprecatedCalled == 0 {
		t.Error("no deprecated operation is called")
	}
	if unused < 2 {
		t.Errorf("%d spec operations never called, want at least 2 (unused)", unused)
	}
	var shadow, zombie int
	for call := range undocumented {
		method, path, _ := strings.Cut(call, " ")
		if twin := strings.Replace(path, "/v1/", "/v2/", 1); twin != path && match(ops, method, twin) != nil {
			zombie++
		} else {
			shadow++
		}
	}
	if shadow < 2 || zombie == 0 {
		t.Errorf("undocumented calls %v: want at least 2 shadow and 1 zombie (/v1 twin of a documented /v2)", undocumented)
	}
	if otherHost == 0 {
		t.Error("no calls to the host without a spec")
	}
	if unauthPII == 0 {
		t.Error("no 200 answered to an unauthenticated call on a secured operation")
	}
	sequential := false
	for _, ids := range enum {
		run := 1
		for i := 1; i < len(ids); i++ {
			if ids[i] == ids[i-1]+1 {
				run++
			} else {
				run = 1
			}
			if run >= 50 {
				sequential = true
			}
		}
	}
	if !sequential {
		t.Error("no principal walks /api/v2/users/{id} sequentially")
	}

	// Wire content: sensitive data in responses, weak credentials in requests.
	var c2s, s2c []byte
	for _, f := range readFrames(t, pcap) {
		if f.src.Port() == 80 || f.src.Port() == 8080 {
			s2c = append(s2c, f.payload...)
		} else {
			c2s = append(c2s, f.payload...)
		}
	}
	for _, want := range []string{"4111111111111111", "@mail.example", `"access_token":"eyJ`} {
		if !bytes.Contains(s2c, []byte(want)) {
			t.Errorf("no response carries %q", want)
		}
	}
	for _, want := range []string{"Authorization: Basic ", "?api_key="} {
		if !bytes.Contains(c2s, []byte(want)) {
			t.Errorf("no request carries %q", want)
		}
	}
	algs := map[string]bool{}
	for _, m := range regexp.MustCompile(`Bearer ([A-Za-z0-9_.-]+)`).FindAllSubmatch(c2s, -1) {
		if h := jwtHeader(string(m[1])); h != nil {
			algs[h["alg"].(string)] = true
		}
	}
	if !algs["none"] || len(algs) < 2 {
		t.Errorf("JWT algs on the wire %v: want alg none beside a signed one", slices.Collect(func(yield func(string) bool) {
			for a := range algs {
				if !yield(a) {
					return
				}
			}
		}))
	}
}
