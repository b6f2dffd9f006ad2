package discovery

import "testing"

// One name seen with two format extensions is one segment with a
// {format} parameter; a single file name stays literal.
func TestFormatExtension(t *testing.T) {
	inv := newInv(t, nil)
	paths := []string{"/v3/lists.json", "/v3/reviews.json", "/v3/lists.jsonp", "/v3/lists.json", "/files/report.pdf", "/v3/lists.xml"}
	var last []string
	for i, p := range paths {
		c := call(i, "h.test", "GET", p, 200, `{"a":1}`)
		inv.Observe(c)
		last = append(last, c.Template)
	}
	want := []string{"/v3/lists.json", "/v3/reviews.json", "/v3/lists.{format}", "/v3/lists.{format}", "/files/report.pdf", "/v3/lists.{format}"}
	for i := range want {
		if last[i] != want[i] {
			t.Errorf("%s: template %q, want %q", paths[i], last[i], want[i])
		}
	}
	var tmpls []string
	for _, e := range inv.Endpoints() {
		tmpls = append(tmpls, e.Template)
	}
	if len(tmpls) != 3 {
		t.Errorf("endpoints %v, want lists.{format}, reviews.json, report.pdf", tmpls)
	}
}
