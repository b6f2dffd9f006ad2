package discovery_test

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/apisensor/apisensor/discovery"
)

// Observe keeps no reference to a call's bytes: a caller may reuse them
// (the parser's header block, arena memory) as soon as Observe returns.
// The bench-shaped calls, with Path and URI in a buffer that is scribbled
// over after each Observe, give the same templates and the same inventory
// as the same calls with strings of their own; tree keys or value-count
// keys that pointed into the buffer would read the scribble.
func TestObserveKeepsNoCallBytes(t *testing.T) {
	calls := apiCaptureCalls(t)
	if len(calls) > 20000 {
		calls = calls[:20000]
	}
	own, err := discovery.New(discovery.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reused, _ := discovery.New(discovery.DefaultConfig(), nil)
	for i, c := range calls {
		a := c.Clone()
		own.Observe(a)

		b := c.Clone()
		buf := []byte(b.Path + b.URI)
		b.Path = unsafe.String(&buf[0], len(b.Path))
		b.URI = unsafe.String(&buf[len(b.Path)], len(b.URI))
		reused.Observe(b)
		tmpl := b.Template
		for k := range buf {
			buf[k] = 'x'
		}
		if tmpl != a.Template {
			t.Fatalf("call %d %s: template %q, with owned strings %q", i, c.Path, tmpl, a.Template)
		}
	}
	if got, want := reused.Endpoints(), own.Endpoints(); !reflect.DeepEqual(got, want) {
		t.Fatalf("%d endpoints from calls whose bytes were reused, %d from owned ones", len(got), len(want))
	}
}
