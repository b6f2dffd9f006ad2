package discovery

import (
	"fmt"
	"testing"
)

// Interleaved traffic to many resource names looks like fresh ids in its
// first round (every name new, seen once): the position is promoted
// provisionally. When the names come back with stable counts the position
// is demoted: every name is a literal endpoint again and the wrong
// parameter endpoint is gone.
func TestDemoteRecurringNames(t *testing.T) {
	inv := newInv(t, nil)
	var names []string
	for i := 0; i < 40; i++ {
		names = append(names, fmt.Sprintf("%s.%s", vocab[i%len(vocab)], vocab[(i*7+3)%len(vocab)]))
	}
	i := 0
	for round := 0; round < 10; round++ {
		for _, nm := range names {
			inv.Observe(call(i, "rpc.test", "GET", "/api/"+nm, 200, ""))
			i++
		}
	}
	st := inv.Stats()
	if st.Promotions == 0 || st.Demotions == 0 {
		t.Fatalf("stats %+v: want a provisional promotion and a demotion", st)
	}
	got := map[string]bool{}
	for _, e := range inv.Endpoints() {
		got[e.Template] = true
	}
	for _, nm := range names {
		if !got["/api/"+nm] {
			t.Errorf("missing literal endpoint /api/%s", nm)
		}
	}
	if len(got) != len(names) {
		t.Errorf("%d endpoints, want %d: %v", len(got), len(names), got)
	}
	c := call(i, "rpc.test", "GET", "/api/"+names[0], 200, "")
	inv.Observe(c)
	if c.Template != "/api/"+names[0] {
		t.Errorf("template after demotion %q", c.Template)
	}
}

// Slugs keep arriving new: the provisional position is never demoted.
func TestSlugsStayParameter(t *testing.T) {
	inv := newInv(t, nil)
	last := ""
	for i := 0; i < 300; i++ {
		c := call(i, "h.test", "GET", fmt.Sprintf("/articles/%s-%s-%c%c", vocab[i%len(vocab)], vocab[(i/len(vocab))%len(vocab)], 'a'+i%26, 'a'+i/26%26), 200, "")
		inv.Observe(c)
		last = c.Template
	}
	if st := inv.Stats(); last != "/articles/{articleId}" || st.Promotions == 0 || st.Demotions != 0 {
		t.Errorf("template %q stats %+v", last, st)
	}
}

// A fixed word that turns busy after its position was promoted is split
// out (/series/upcoming beside /series/{slug}), and the parameter endpoint
// that only ever served it moves with it.
func TestBusyWordSplitAfterPromotion(t *testing.T) {
	inv := newInv(t, nil)
	i := 0
	for k := 0; k < 200; k++ {
		inv.Observe(call(i, "h.test", "GET", fmt.Sprintf("/series/%s-%s-%d%c", vocab[k%len(vocab)], vocab[(k/3)%len(vocab)], k%7, 'a'+k%26), 200, `{"name":"n"}`))
		i++
		if k%4 == 0 {
			inv.Observe(call(i, "h.test", "POST", "/series/upcoming", 200, `{"ok":true}`))
			i++
		}
	}
	c := call(i, "h.test", "POST", "/series/upcoming", 200, `{"ok":true}`)
	inv.Observe(c)
	if c.Template != "/series/upcoming" {
		t.Errorf("template %q, want /series/upcoming", c.Template)
	}
	for _, e := range inv.Endpoints() {
		if e.Method == "POST" && e.Template != "/series/upcoming" {
			t.Errorf("left-over endpoint %s %s", e.Method, e.Template)
		}
	}
}

// The values a provisional position remembers are capped per position
// (MaxLiteralChildren) and per host (MaxNodesPerHost).
func TestProvisionalValuesCap(t *testing.T) {
	inv := newInv(t, func(c *Config) { c.MaxLiteralChildren = 32; c.MaxNodesPerHost = 256 })
	sawHeld := false
	for i := 0; i < 5000; i++ {
		inv.Observe(call(i, "h.test", "GET", fmt.Sprintf("/p%d/items/%s-%s", i%20, vocab[i%len(vocab)], vocab[(i/7)%len(vocab)]), 200, ""))
		h := inv.hosts["h.test"]
		held := 0
		var walk func(n *node)
		walk = func(n *node) {
			if len(n.vals) > 32 {
				t.Fatalf("position %q keeps %d values", n.key, len(n.vals))
			}
			held += len(n.vals)
			for _, c := range n.children {
				walk(c)
			}
		}
		walk(h.root)
		if held > 0 {
			sawHeld = true
		}
		if held != h.valsHeld || held > 256 {
			t.Fatalf("call %d: values held %d, counter %d", i, held, h.valsHeld)
		}
	}
	if !sawHeld {
		t.Fatal("no position was ever provisional: the test does not exercise the cap")
	}
}
