package discovery

import (
	"fmt"
	"testing"
)

func TestTemplatesTyped(t *testing.T) {
	inv := newInv(t, nil)
	cases := []struct{ method, path, want string }{
		{"GET", "/api/v2/orders/83121", "/api/v2/orders/{orderId}"},
		{"GET", "/api/v2/orders/83122", "/api/v2/orders/{orderId}"},
		{"GET", "/api/v2/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders", "/api/v2/users/{userId}/orders"},
		{"GET", "/files/83121.pdf", "/files/{fileId}.pdf"},
		{"GET", "/files/report.pdf", "/files/report.pdf"},
		{"GET", "/2024-01-01/charges/ch_1a2b3c4d5e6f7g", "/2024-01-01/charges/{chargeId}"},
		{"GET", "/teams/42/members/43", "/teams/{teamId}/members/{memberId}"},
		{"GET", "/a/1/2", "/a/{aId}/{id}"},
		{"GET", "/x/1/1/1", "/x/{xId}/{id}/{id2}"},
		{"GET", "/v1/projects/p42x9q7z:cancel", "/v1/projects/{projectId}:cancel"},
		{"GET", "/", "/"},
		{"GET", "//health//", "/health"},
	}
	for i, c := range cases {
		cl := call(i, "shop.test", c.method, c.path, 200, "")
		inv.Observe(cl)
		if cl.Template != c.want {
			t.Errorf("%s %s: template %q, want %q", c.method, c.path, cl.Template, c.want)
		}
	}
}

// Slugs under one prefix answering with one shape become a parameter;
// resource names answering with different shapes stay literal.
func TestSiblingPromotion(t *testing.T) {
	inv := newInv(t, nil)
	words := []string{"blue", "red", "green", "tiny", "huge", "smart", "old", "new", "fast", "slow", "warm", "cold", "soft", "hard", "dark", "pale", "loud", "calm", "wild", "neat"}
	i := 0
	for _, w := range words {
		for _, kind := range []string{"widget", "gadget"} {
			cl := call(i, "shop.test", "GET", "/products/"+w+"-"+kind, 200, `{"sku":"x","name":"y","price":1}`)
			inv.Observe(cl)
			i++
		}
	}
	last := call(i, "shop.test", "GET", "/products/another-widget", 200, `{"sku":"x","name":"y","price":1}`)
	inv.Observe(last)
	if last.Template != "/products/{productId}" {
		t.Errorf("slug template %q, want /products/{productId}", last.Template)
	}
	// Twelve resources, each called repeatedly with its own shape.
	res := []string{"users", "orders", "invoices", "carts", "coupons", "reviews", "stores", "brands", "tags", "refunds", "payouts", "shipments"}
	for round := 0; round < 10; round++ {
		for k, r := range res {
			cl := call(i, "shop.test", "GET", "/api/"+r, 200, fmt.Sprintf(`{"%s_field":1,"n%d":2}`, r, k))
			inv.Observe(cl)
			i++
			if cl.Template != "/api/"+r {
				t.Fatalf("resource %s templated as %q", r, cl.Template)
			}
		}
	}
	st := inv.Stats()
	if st.Promotions < 1 {
		t.Errorf("promotions = %d, want >= 1", st.Promotions)
	}
}

// A fixed word much busier than the values beside it stays literal after
// promotion (/users/me next to /users/{userId}).
func TestPromotionKeepsBusyWord(t *testing.T) {
	inv := newInv(t, nil)
	i := 0
	for k := 0; k < 30; k++ {
		inv.Observe(call(i, "h.test", "GET", "/users/me", 200, `{"me":true}`))
		i++
	}
	for k := 0; k < 40; k++ {
		inv.Observe(call(i, "h.test", "GET", fmt.Sprintf("/users/user-%c%c", 'a'+k%26, 'a'+k/26), 200, `{"name":"n"}`))
		i++
	}
	me := call(i, "h.test", "GET", "/users/me", 200, `{"me":true}`)
	inv.Observe(me)
	other := call(i+1, "h.test", "GET", "/users/someone-new", 200, `{"name":"n"}`)
	inv.Observe(other)
	if me.Template != "/users/me" || other.Template != "/users/{userId}" {
		t.Errorf("templates %q, %q; want /users/me, /users/{userId}", me.Template, other.Template)
	}
}

// Scanner 404s do not create endpoints; a path that later succeeds does,
// and from then on its 404s count.
func TestScannerNoise(t *testing.T) {
	inv := newInv(t, nil)
	for i := 0; i < 200; i++ {
		inv.Observe(call(i, "h.test", "GET", fmt.Sprintf("/admin%d.php", i), 404, ""))
	}
	if st := inv.Stats(); st.Endpoints != 0 || st.Ignored != 200 {
		t.Fatalf("after scanner: endpoints=%d ignored=%d, want 0 and 200", st.Endpoints, st.Ignored)
	}
	inv.Observe(call(300, "h.test", "GET", "/login", 200, ""))
	c := call(301, "h.test", "GET", "/login", 404, "")
	inv.Observe(c)
	eps := inv.Endpoints()
	if len(eps) != 1 || eps[0].Calls != 2 || eps[0].Statuses["404"] != 1 || c.Template != "/login" {
		t.Fatalf("endpoints %+v", eps)
	}
}

// Once learned a template is stable: later calls land on it directly.
func TestTemplateStable(t *testing.T) {
	inv := newInv(t, nil)
	for i := 0; i < 100; i++ {
		c := call(i, "h.test", "GET", fmt.Sprintf("/orders/%d/items/%d", 1000+i, i), 200, "")
		inv.Observe(c)
		if c.Template != "/orders/{orderId}/items/{itemId}" {
			t.Fatalf("call %d template %q", i, c.Template)
		}
	}
	if n := len(inv.Endpoints()); n != 1 {
		t.Errorf("endpoints = %d, want 1", n)
	}
}

// An unquoted version in YAML is a number: 2.0 reads as the float 2.
func TestVersionString(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{{2.0, "2.0"}, {3.1, "3.1"}, {3.25, "3.25"}, {3, "3.0"}, {"3.0.3", "3.0.3"}, {nil, ""}, {1e21, "1000000000000000000000.0"}} {
		if got := versionString(c.in); got != c.want {
			t.Errorf("versionString(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
