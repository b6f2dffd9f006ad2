package discovery

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"runtime"
	"strconv"
	"testing"

	"github.com/apisensor/apisensor/model"
)

// inventoryHeapCap is the stated bound for the 1M-random-paths test: the
// inventory of one host under the default config stays below it.
const inventoryHeapCap = 64 << 20

// randomPath mixes numbers, fresh random words (ids the sibling statistics
// must fold) and words from a small vocabulary at every depth (literals
// that stay: the tree can only be held by the node and endpoint caps).
func randomPath(rng *rand.Rand) string {
	depth := 1 + rng.Intn(6)
	p := ""
	for d := 0; d < depth; d++ {
		switch rng.Intn(4) {
		case 0:
			p += "/" + strconv.Itoa(rng.Intn(1<<30))
		case 1:
			b := make([]byte, 3+rng.Intn(8))
			for i := range b {
				b[i] = byte('a' + rng.Intn(26))
			}
			p += "/" + string(b)
		default:
			p += "/" + vocab[rng.Intn(len(vocab))]
		}
	}
	return p
}

var vocab = func() []string {
	v := make([]string, 40)
	for i := range v {
		v[i] = "res" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	return v
}()

// One million distinct random paths on one host keep the inventory under
// its caps and under inventoryHeapCap of heap.
func TestMemoryMillionRandomPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("1M calls; skipped with -short")
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	inv := newInv(t, nil)
	rng := rand.New(rand.NewSource(7))
	c := call(0, "random.test", "GET", "/", 200, "")
	for i := 0; i < 1_000_000; i++ {
		c.Path = randomPath(rng)
		c.TS = t0.Add(timeStep(i))
		c.RespTS = c.TS
		inv.Observe(c)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	st := inv.Stats()
	cfg := DefaultConfig()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("stats %+v heap growth %.1f MiB", st, float64(heap)/(1<<20))
	if st.Endpoints > cfg.MaxEndpointsPerHost || st.Nodes > cfg.MaxNodesPerHost {
		t.Errorf("caps broken: endpoints %d (cap %d), nodes %d (cap %d)", st.Endpoints, cfg.MaxEndpointsPerHost, st.Nodes, cfg.MaxNodesPerHost)
	}
	if heap > inventoryHeapCap {
		t.Errorf("heap grew %d bytes, cap %d", heap, inventoryHeapCap)
	}
	runtime.KeepAlive(inv)
}

func TestEndpointCapEvicts(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxEndpointsPerHost = 50 })
	for i := 0; i < 500; i++ {
		// Distinct methods on one path: each is its own endpoint, no
		// promotion can fold them.
		inv.Observe(call(i, "h.test", "M"+strconv.Itoa(i), "/x", 200, ""))
	}
	checkCounts(t, inv)
	st := inv.Stats()
	if st.Endpoints > 50 || st.EndpointEvictions == 0 {
		t.Fatalf("endpoints %d evictions %d", st.Endpoints, st.EndpointEvictions)
	}
	eps := inv.Endpoints()
	if len(eps) != st.Endpoints {
		t.Fatalf("Endpoints() %d vs stats %d", len(eps), st.Endpoints)
	}
	// The survivors are the most recent ones.
	for _, e := range eps {
		if n, _ := strconv.Atoi(e.Method[1:]); n < 500-50 {
			t.Errorf("old endpoint %s survived", e.Method)
		}
	}
}

// A documented path makes an endpoint for any answer, a 501 to a method
// the client made up included: those count against the caps too.
func TestSpecEndpointCapEvicts(t *testing.T) {
	inv := newInv(t, func(c *Config) {
		c.MaxEndpointsPerHost, c.MaxEndpoints = 50, 100
		c.Specs = []SpecInput{{Path: specPath("shop-openapi3.yaml")}}
	})
	const shop = "shop.example.com"
	inv.Observe(call(0, shop, "GET", "/api/v2/orders", 200, "[]"))
	for i := 1; i < 5000; i++ {
		inv.Observe(call(i, shop, "X"+strconv.Itoa(i), "/api/v2/orders", 501, ""))
	}
	checkCounts(t, inv)
	if st := inv.Stats(); st.Endpoints > 50 || st.EndpointEvictions == 0 {
		t.Fatalf("endpoints %d evictions %d", st.Endpoints, st.EndpointEvictions)
	}
}

func TestGlobalEndpointCapEvicts(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxEndpoints = 100 })
	for i := 0; i < 1000; i++ {
		inv.Observe(call(i, fmt.Sprintf("h%d.test", i%20), "M"+strconv.Itoa(i), "/x", 200, ""))
	}
	checkCounts(t, inv)
	if st := inv.Stats(); st.Endpoints > 100 || st.EndpointEvictions == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHostCapEvicts(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxHosts = 20 })
	for i := 0; i < 300; i++ {
		inv.Observe(call(i, fmt.Sprintf("h%d.test", i), "GET", "/x", 200, ""))
	}
	checkCounts(t, inv)
	st := inv.Stats()
	if st.Hosts > 20 || st.HostEvictions == 0 || st.Endpoints != st.Hosts {
		t.Fatalf("stats %+v", st)
	}
}

// A position with more literal values than MaxLiteralChildren becomes a
// parameter whatever the statistics say.
func TestLiteralChildrenCap(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxLiteralChildren = 16; c.SiblingThreshold = 16 })
	var last *model.Call
	for i := 0; i < 40; i++ {
		// Same value count each, so the ratio test alone would not promote.
		for r := 0; r < 3; r++ {
			last = call(i*3+r, "h.test", "GET", "/things/"+string(rune('a'+i%26))+string(rune('a'+i/26))+"x", 200, "")
			inv.Observe(last)
		}
	}
	if last.Template != "/things/{thingId}" || inv.Stats().ForcedParams == 0 {
		t.Fatalf("template %q stats %+v", last.Template, inv.Stats())
	}
}

func TestFindingsCap(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxFindings = 5 })
	for i := 0; i < 50; i++ {
		c := call(i, "h.test", "M"+strconv.Itoa(i), "/x", 200, "")
		c.Auth = model.Auth{Scheme: model.AuthBasic}
		inv.Observe(c)
	}
	checkCounts(t, inv)
	if n := len(inv.Findings()); n > 5 || inv.Stats().FindingsDropped == 0 {
		t.Fatalf("findings %d dropped %d", n, inv.Stats().FindingsDropped)
	}
}

// The node cap holds even when every path is made of repeated words the
// statistics keep literal (a first round of new words promotes each
// position provisionally; the repeats demote it): new words then become
// parameters.
func TestNodeCap(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxNodesPerHost = 64 })
	for round := 0; round < 10; round++ {
		for a := 0; a < 12; a++ {
			for b := 0; b < 12; b++ {
				inv.Observe(call(round*1000+a*12+b, "h.test", "GET", "/"+vocab[a]+"/"+vocab[b], 200, ""))
			}
		}
	}
	checkCounts(t, inv)
	st := inv.Stats()
	if st.Nodes > 64 || st.ForcedParams == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// checkCounts recounts the endpoints and findings the caps are checked
// against: evictions must leave the running counts right.
func checkCounts(t *testing.T, inv *Inventory) {
	t.Helper()
	eps, fs := 0, 0
	for _, h := range inv.hosts {
		n := 0
		inv.forEachEndpoint(h, func(e *endpoint) {
			n++
			for _, f := range e.findings {
				if f != nil {
					fs++
				}
			}
		})
		if n != h.endpoints {
			t.Errorf("host %s: %d endpoints, counted %d", h.name, n, h.endpoints)
		}
		eps += n
	}
	if eps != inv.endpointCount || fs != inv.findingCount {
		t.Errorf("%d endpoints and %d findings, counted %d and %d", eps, fs, inv.endpointCount, inv.findingCount)
	}
}

// Sibling endpoints folded into one parameter endpoint merge their schemas:
// each is within MaxSchemaProps, and so must be their union (found by
// review: 40 siblings gave 44 properties under one object, cap 4).
func TestMergedSchemaKeepsPropsCap(t *testing.T) {
	const maxProps = 4
	inv := newInv(t, func(c *Config) { c.MaxSchemaProps = maxProps; c.SampleEvery = 1 })
	words := []string{"blue", "red", "green", "tiny", "huge", "smart", "old", "new", "fast", "slow", "warm", "cold", "soft", "hard", "dark", "pale", "loud", "calm", "wild", "neat"}
	i := 0
	for _, w := range words {
		for _, kind := range []string{"widget", "gadget"} {
			// The same shape at the top (promotion compares that), other
			// names two levels down.
			body := fmt.Sprintf(`{"sku":"x","name":"y","x":{"a":{"p%da":1,"p%db":1,"p%dc":1,"p%dd":1}}}`, i, i, i, i)
			inv.Observe(call(i, "shop.test", "GET", "/products/"+w+"-"+kind, 200, body))
			i++
		}
	}
	if endpointByTemplate(inv.Endpoints(), "shop.test", "GET", "/products/{productId}") == nil {
		t.Fatal("no /products/{productId}: the siblings were not folded, nothing merged")
	}
	doc, err := inv.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	if n := maxProperties(v); n > maxProps {
		t.Errorf("a schema in openapi.json has %d properties, cap %d", n, maxProps)
	}
}

// maxProperties is the largest "properties" object anywhere in v.
func maxProperties(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		if p, ok := x["properties"].(map[string]any); ok {
			n = len(p)
		}
		for _, c := range x {
			n = max(n, maxProperties(c))
		}
	case []any:
		for _, c := range x {
			n = max(n, maxProperties(c))
		}
	}
	return n
}

// A real answer whose path needs a node past MaxNodesPerHost, where no
// parameter exists yet to take it, is not filed: counted in NodeCapDrops,
// not as an ignored call (which means no real answer).
func TestNodeCapDrops(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxNodesPerHost = 16 })
	dropped := 0
	for i, a := range "abcdefghijklmnopqrstuvwxyz" {
		c := call(i, "h.test", "GET", fmt.Sprintf("/w%c/x%c/y%c/z", a, a, a), 200, "")
		inv.Observe(c)
		if c.Template == "" {
			dropped++
		}
	}
	st := inv.Stats()
	if dropped == 0 || st.NodeCapDrops != int64(dropped) || st.Ignored != 0 || st.Nodes > 16 {
		t.Fatalf("%d calls without a template; stats %+v", dropped, st)
	}
}
