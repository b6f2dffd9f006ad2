package discovery

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// The prefilter only skips expressions that cannot match: on bodies built
// from sensitive values, near misses and noise, the hits are the same as
// running every expression.
func TestScanSensitivePrefilter(t *testing.T) {
	pieces := []string{
		`"email":"jane.doe@example.com"`, `"phone":"+1 (415) 555-0100"`, `"card":"4111 1111 1111 1111"`,
		`"card":"5555-5555-5555-4444"`, `"n":1767600000000`, `"iban":"GB82 WEST 1234 5698 7654 32"`,
		`"ssn":"123-45-6789"`, `"t":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"`,
		"-----BEGIN RSA PRIVATE KEY-----", `"k":"AKIAIOSFODNN7EXAMPLE"`, `"g":"AIzaSyA1234567890abcdefghijklmnopqrstuv"`,
		`"Password":"hunter2"`, `"client_SECRET" : "x"`, `"pwd":""`, `"ſecret":"x"`, `"paſſword":"y"`, "@", "+", "-", "AB12", "ASIA", "eyJ",
		`"id":42`, `"name":"widget"`, " ", "\n", "12-34", "1234567890123", "+49 30 1234567",
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		var sb strings.Builder
		sb.WriteByte('{')
		for j := r.IntN(8); j >= 0; j-- {
			sb.WriteString(pieces[r.IntN(len(pieces))])
			sb.WriteByte(',')
		}
		if i%5 == 0 {
			raw := make([]byte, r.IntN(40))
			for k := range raw {
				raw[k] = byte(r.IntN(96) + 32)
			}
			sb.Write(raw)
		}
		body := []byte(sb.String())
		got := scanSensitive(body, nil)
		want := scanWith(body, nil, &all)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q:\nprefiltered %v\nfull        %v", body, got, want)
		}
	}
}

func BenchmarkScanSensitiveJSON(b *testing.B) {
	body := []byte(fmt.Sprintf(`{"id":%d,"name":"blue widget","price":19.99,"tags":["a","b"],"created":"2026-01-05T09:00:00Z","stock":{"warehouse":"east","count":17}}`, 83121))
	b.ReportAllocs()
	var out []sensHit
	for b.Loop() {
		out = scanSensitive(body, out[:0])
	}
}

// containsFold reports whether b contains the lower-case ASCII word w in
// any case.
func containsFold(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		if b[i]|0x20 != w[0] {
			continue
		}
		j := 1
		for ; j < len(w) && b[i+j]|0x20 == w[j]; j++ {
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// all is a prefilter that lets every expression run (tests compare).
var all = prefilter{at: true, plus: true, ssn: true, upperDigits: true, jwt: true, privKey: true, cloud: true, pass: true, digitRun: 1 << 30}
