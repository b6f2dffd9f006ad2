package discovery

import (
	"fmt"
	"testing"
	"time"

	"github.com/apisensor/apisensor/model"
)

func timeStep(i int) time.Duration { return time.Duration(i) * time.Millisecond }

// BenchmarkObserve is a known endpoint with a small JSON answer: the common
// case after warm-up (bodies past the sample budget are not parsed).
func BenchmarkObserve(b *testing.B) {
	inv := newInv(b, nil)
	calls := make([]*model.Call, 1024)
	for i := range calls {
		calls[i] = call(i, "api.shop.test", "GET", fmt.Sprintf("/api/v2/orders/%d/items", 1000+i), 200, `{"id":1,"sku":"A-1","qty":2}`)
		calls[i].Query = "page=2&limit=50"
		calls[i].Auth = model.Auth{Scheme: model.AuthBearerJWT, JWTAlg: "RS256", JWTHasExp: true}
	}
	for _, c := range calls {
		inv.Observe(c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := calls[i&1023]
		inv.Observe(c)
	}
}

// BenchmarkObserveSampled parses and scans every body (SampleEvery 1): the
// cost of a call inside the sample budget.
func BenchmarkObserveSampled(b *testing.B) {
	inv := newInv(b, func(c *Config) { c.SampleEvery = 1 })
	c := call(0, "api.shop.test", "GET", "/api/v2/users/42", 200,
		`{"id":42,"email":"alice@example.com","name":"Alice","created":"2024-01-01T10:00:00Z","tags":["a","b"],"address":{"city":"X","zip":"12345"}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inv.Observe(c)
	}
}

// BenchmarkObserveNewPaths is a stream of never-seen id paths.
func BenchmarkObserveNewPaths(b *testing.B) {
	inv := newInv(b, nil)
	c := call(0, "api.shop.test", "GET", "/", 200, "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Path = fmt.Sprintf("/api/v2/orders/%d", i)
		inv.Observe(c)
	}
}
