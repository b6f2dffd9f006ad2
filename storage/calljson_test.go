package storage

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apisensor/apisensor/model"
)

func sampleCall() *model.Call {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return &model.Call{
		TS:         ts,
		RespTS:     ts.Add(1500 * time.Microsecond),
		Src:        netip.MustParseAddrPort("10.0.0.1:51234"),
		Dst:        netip.MustParseAddrPort("[2001:db8::1]:443"),
		Host:       "api.example.com",
		Method:     "GET",
		URI:        "/api/v1/users/42?x=<1>&y=\"2\"",
		Path:       "/api/v1/users/42",
		Query:      "x=<1>&y=\"2\"",
		Template:   "/api/v1/users/{userId}",
		Proto:      "HTTP/1.1",
		Status:     200,
		StatusText: "OK",
		ReqBody:    model.Body{Bytes: 0},
		RespBody:   model.Body{Bytes: 321, ContentType: "application/json"},
		UserAgent:  "curl/8.0\t\x01 \u2028 bad:\xff",
		Principal:  model.Principal{Kind: model.PrincipalJWT, ID: "alice"},
		Auth:       model.Auth{Scheme: model.AuthBearerJWT},
		Flags:      model.FlagMidstream | model.FlagInterim,
		Interim:    []uint16{100},
	}
}

// The contract's fields, decoded back with the standard library.
type callLine struct {
	TS            *time.Time `json:"ts"`
	Src           string     `json:"src"`
	Dst           string     `json:"dst"`
	Host          string     `json:"host"`
	Method        string     `json:"method"`
	URI           string     `json:"uri"`
	Path          string     `json:"path"`
	Template      string     `json:"template"`
	Status        uint16     `json:"status"`
	ReqBodyBytes  int64      `json:"req_body_bytes"`
	RespBodyBytes int64      `json:"resp_body_bytes"`
	UserAgent     string     `json:"user_agent"`
	Principal     string     `json:"principal"`
	LatencyMs     float64    `json:"latency_ms"`
	Flags         []string   `json:"flags"`
	Interim       []uint16   `json:"interim"`
}

func TestCallJSONRoundTrip(t *testing.T) {
	c := sampleCall()
	line := AppendCallJSON(nil, c)
	var got callLine
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	if !got.TS.Equal(c.TS) || got.Src != "10.0.0.1:51234" || got.Dst != "[2001:db8::1]:443" ||
		got.Host != c.Host || got.Method != c.Method || got.URI != c.URI || got.Path != c.Path ||
		got.Template != c.Template || got.Status != 200 || got.RespBodyBytes != 321 ||
		got.Principal != "jwt:alice" || got.LatencyMs != 1.5 {
		t.Fatalf("round trip mismatch: %+v\n%s", got, line)
	}
	if want := strings.ToValidUTF8(c.UserAgent, "\ufffd"); got.UserAgent != want {
		t.Fatalf("user agent %q, want %q", got.UserAgent, want)
	}
	if strings.Join(got.Flags, ",") != "midstream,interim" || len(got.Interim) != 1 {
		t.Fatalf("flags %v interim %v", got.Flags, got.Interim)
	}
}

// Every byte sequence in every string field must come out as valid JSON
// that decodes to the same text (invalid UTF-8 aside).
func TestAppendStringMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.IntN(24))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		s := string(b)
		enc := appendString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, enc, err)
		}
		var std bytes.Buffer
		e := json.NewEncoder(&std)
		e.SetEscapeHTML(false)
		e.Encode(s)
		if strings.TrimSuffix(std.String(), "\n") != string(enc) {
			t.Fatalf("%q: got %s, encoding/json %s", s, enc, std.String())
		}
	}
}

func TestResponseOnlyCallHasNullTS(t *testing.T) {
	c := &model.Call{Status: 200, Flags: model.FlagNoRequest}
	var got callLine
	if err := json.Unmarshal(AppendCallJSON(nil, c), &got); err != nil {
		t.Fatal(err)
	}
	if got.TS != nil || got.Status != 200 {
		t.Fatalf("got %+v", got)
	}
}

func BenchmarkCallJSON(b *testing.B) {
	c := sampleCall()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCallJSON(buf[:0], c)
	}
}

// BenchmarkCallJSONStdlib is the reference the hand-written encoder is
// measured against: the same fields through encoding/json.
func BenchmarkCallJSONStdlib(b *testing.B) {
	c := sampleCall()
	b.ReportAllocs()
	for b.Loop() {
		l := callLine{TS: &c.TS, Src: c.Src.String(), Dst: c.Dst.String(), Host: c.Host, Method: c.Method,
			URI: c.URI, Path: c.Path, Template: c.Template, Status: c.Status, RespBodyBytes: c.RespBody.Bytes,
			UserAgent: c.UserAgent, Principal: c.Principal.String(), LatencyMs: float64(c.Latency().Microseconds()) / 1000,
			Flags: c.Flags.Names(), Interim: c.Interim}
		if _, err := json.Marshal(&l); err != nil {
			b.Fatal(err)
		}
	}
}

// A line shaped like the bench capture's (gen.DefaultAPIConfig, about 450
// bytes): keep-alive JSON API traffic with a Bearer JWT, IPv4 on both sides,
// microsecond timestamps, clean ASCII strings.
func realisticCall() *model.Call {
	ts := time.Date(2026, 1, 5, 9, 0, 36, 661593000, time.UTC)
	return &model.Call{
		TS:        ts,
		RespTS:    ts.Add(1132 * time.Microsecond),
		Src:       netip.MustParseAddrPort("10.1.0.31:43541"),
		Dst:       netip.MustParseAddrPort("10.2.0.13:8080"),
		Host:      "search.example.com",
		Method:    "GET",
		URI:       "/api/v1/products/ember-kilo-51/reviews",
		Path:      "/api/v1/products/ember-kilo-51/reviews",
		Template:  "/api/v1/products/{productId}/reviews",
		Proto:     "HTTP/1.1",
		Status:    200,
		RespBody:  model.Body{Bytes: 400, ContentType: "application/json; charset=utf-8"},
		UserAgent: "shop-app/4.2 (okhttp/4.12.0)",
		Principal: model.Principal{Kind: model.PrincipalJWT, ID: "user-0003"},
		Auth:      model.Auth{Scheme: model.AuthBearerJWT},
	}
}

func BenchmarkCallJSONRealistic(b *testing.B) {
	c := realisticCall()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCallJSON(buf[:0], c)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkCallJSONReference is the previous encoder on the same inputs.
func BenchmarkCallJSONReference(b *testing.B) {
	for _, bc := range []struct {
		name string
		c    *model.Call
	}{{"sample", sampleCall()}, {"realistic", realisticCall()}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = refAppendCallJSON(buf[:0], bc.c)
			}
		})
	}
}

func BenchmarkAppendTime(b *testing.B) {
	t := time.Date(2026, 1, 5, 9, 0, 0, 8330000, time.UTC)
	buf := make([]byte, 0, 64)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendTime(buf[:0], t)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = refAppendTime(buf[:0], t)
		}
	})
}

func BenchmarkAppendAddrPort(b *testing.B) {
	ap := netip.MustParseAddrPort("10.12.3.147:53422")
	buf := make([]byte, 0, 64)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendAddrPort(buf[:0], ap)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = refAppendAddrPort(buf[:0], ap)
		}
	})
}

func BenchmarkAppendMillis(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendMillis(buf[:0], 2462)
		}
	})
	b.Run("strconv", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = strconv.AppendFloat(buf[:0], float64(2462)/1000, 'f', -1, 64)
		}
	})
}

func BenchmarkAppendEscaped(b *testing.B) {
	strs := []string{"orders.internal.example.com", "/api/v2/customers/8842/orders/120394/items",
		"/api/v2/customers/{customerId}/orders/{orderId}/items", "okhttp/4.12.0 orders-svc/1.8.3", "HTTP/1.1"}
	buf := make([]byte, 0, 256)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = buf[:0]
			for _, s := range strs {
				buf = appendEscaped(buf, s)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = buf[:0]
			for _, s := range strs {
				buf = refAppendEscaped(buf, s)
			}
		}
	})
}

// oddString mixes clean ASCII runs of every length with each class the
// escaper treats specially, so that both the 8-byte scan and the byte loop
// meet every class at every alignment.
func oddString(r *rand.Rand) string {
	pieces := []string{"\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", " ", "&<>",
		"é", "日本", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xe2\x80", "\xed\xa0\x80", "\xc0\xaf"}
	const clean = "abcdefghijklmnopqrstuvwxyz0123456789/._-~?=%{}"
	var sb strings.Builder
	for n := r.IntN(8); n > 0; n-- {
		for k := r.IntN(20); k > 0; k-- {
			sb.WriteByte(clean[r.IntN(len(clean))])
		}
		if r.IntN(3) == 0 {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
	}
	if r.IntN(10) == 0 {
		for k := r.IntN(30); k > 0; k-- {
			sb.WriteByte(byte(r.IntN(256)))
		}
	}
	return sb.String()
}

func randomTime(r *rand.Rand) time.Time {
	locs := []*time.Location{time.UTC, time.FixedZone("x", -9*3600-1800), time.FixedZone("y", 14*3600)}
	var sec int64
	switch r.IntN(4) {
	case 0:
		return time.Time{}
	case 1: // around now
		sec = 1767600000 + r.Int64N(1<<26) - 1<<25
	case 2: // anywhere in the four-digit years
		sec = minCivilUnix + r.Int64N(maxCivilUnix-minCivilUnix+1)
	default: // anywhere time can represent, mostly outside 0000-9999
		sec = int64(r.Uint64()) >> r.IntN(40)
	}
	var ns int64
	switch r.IntN(4) {
	case 0:
	case 1:
		ns = r.Int64N(1000) * 1e6
	case 2:
		ns = r.Int64N(1e6) * 1e3
	default:
		ns = r.Int64N(1e9)
	}
	return time.Unix(sec, ns).In(locs[r.IntN(len(locs))])
}

func randomAddrPort(r *rand.Rand) netip.AddrPort {
	port := uint16(r.IntN(65536))
	if r.IntN(4) == 0 {
		port = uint16(r.IntN(100))
	}
	switch r.IntN(6) {
	case 0:
		return netip.AddrPort{}
	case 1:
		var a [16]byte
		for i := range a {
			a[i] = byte(r.IntN(256))
		}
		if r.IntN(2) == 0 {
			clear(a[4:14])
		}
		return netip.AddrPortFrom(netip.AddrFrom16(a), port)
	case 2:
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		return netip.AddrPortFrom(netip.AddrFrom16(a.As16()), port) // 4in6
	case 3:
		return netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), port)
	default:
		var a [4]byte
		for i := range a {
			switch r.IntN(3) {
			case 0:
				a[i] = byte(r.IntN(10))
			case 1:
				a[i] = byte(10 + r.IntN(90))
			default:
				a[i] = byte(r.IntN(256))
			}
		}
		return netip.AddrPortFrom(netip.AddrFrom4(a), port)
	}
}

func randomCall(r *rand.Rand) *model.Call {
	c := &model.Call{
		TS:         randomTime(r),
		Src:        randomAddrPort(r),
		Dst:        randomAddrPort(r),
		Tunnel:     uint64(r.IntN(3)) * r.Uint64() >> r.IntN(64),
		Host:       oddString(r),
		Method:     oddString(r),
		URI:        oddString(r),
		Path:       oddString(r),
		Template:   oddString(r),
		Proto:      oddString(r),
		Status:     uint16(r.IntN(3)) * uint16(r.IntN(1000)),
		StatusText: oddString(r),
		ReqBody:    model.Body{Bytes: r.Int64N(1 << 40), ContentType: oddString(r)},
		RespBody:   model.Body{Bytes: r.Int64() >> r.IntN(63), ContentType: oddString(r)},
		UserAgent:  oddString(r),
		Principal:  model.Principal{Kind: model.PrincipalKind(r.IntN(6)), ID: oddString(r)},
		Auth:       model.Auth{Scheme: model.AuthScheme(r.IntN(8))},
		Flags:      model.CallFlags(r.Uint32() >> r.IntN(32)),
	}
	if r.IntN(2) == 0 && !c.TS.IsZero() {
		c.RespTS = c.TS.Add(time.Duration(r.Int64N(1<<45) >> r.IntN(45)))
		if r.IntN(8) == 0 {
			c.RespTS = c.TS.Add(-time.Second) // before TS: latency 0
		}
	}
	for n := r.IntN(3); n > 0; n-- {
		c.Interim = append(c.Interim, uint16(100+r.IntN(4)))
	}
	switch r.IntN(3) {
	case 0:
		c.ClientIP = c.Src.Addr()
	case 1:
		c.ClientIP = randomAddrPort(r).Addr()
	}
	return c
}

func TestCallJSONMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	calls := []*model.Call{sampleCall(), realisticCall(), {}, {Status: 200, Flags: model.FlagNoRequest}}
	for i := 0; i < 50000; i++ {
		calls = append(calls, randomCall(r))
	}
	buf := []byte("prefix")
	for _, c := range calls {
		got := AppendCallJSON(buf[:6], c)
		want := refAppendCallJSON(nil, c)
		if string(got[6:]) != string(want) {
			t.Fatalf("call %+v\n got %s\nwant %s", c, got[6:], want)
		}
		if !json.Valid(got[6:]) {
			t.Fatalf("invalid JSON: %s", got[6:])
		}
		buf = got
	}
}

func TestAppendTimeMatchesStdlib(t *testing.T) {
	var times []time.Time
	for _, sec := range []int64{minCivilUnix - 1, minCivilUnix, minCivilUnix + 1, maxCivilUnix - 1, maxCivilUnix,
		maxCivilUnix + 1, -1, 0, 1, 86399, 86400, 951782400, 951868800, 4107542400, -2203891200, -62162035200,
		-62135596800, -62135596801} {
		for _, ns := range []int64{0, 1, 10, 999999999, 100000000, 8330000, 123456789, 500} {
			times = append(times, time.Unix(sec, ns))
		}
	}
	// Every day boundary of the leap-year cycle and its exceptions.
	for _, y := range []int{0, 1, 4, 99, 100, 101, 399, 400, 401, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 9999} {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {2, 29}, {3, 1}, {12, 31}} {
			for _, hms := range []int{0, 86399} {
				times = append(times, time.Date(y, time.Month(md[0]), md[1], 0, 0, hms, 0, time.UTC))
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 200000; i++ {
		times = append(times, randomTime(r))
	}
	times = append(times, time.Now(), time.Time{})
	check := func(tm time.Time) {
		if got, want := appendTime(nil, tm), refAppendTime(nil, tm); string(got) != string(want) {
			t.Fatalf("%v (unix %d): got %s, want %s", tm, tm.Unix(), got, want)
		}
	}
	for _, tm := range times {
		check(tm)
	}
	// Every day from 1900 to 2199 and every sixth day (a stride that walks
	// through all months and day numbers) of the other four-digit years, at
	// a drifting second of the day.
	for sec := int64(minCivilUnix); sec <= maxCivilUnix; sec += 6*86400 + 4003 {
		check(time.Unix(sec, 0))
	}
	for day := int64(-25567); day < 84006; day++ { // 1900-01-01 .. 2199-12-31
		check(time.Unix(day*86400+day*7%86400, 0))
	}
}

func TestAppendAddrPortMatchesNetip(t *testing.T) {
	aps := []netip.AddrPort{{}, netip.MustParseAddrPort("0.0.0.0:0"), netip.MustParseAddrPort("255.255.255.255:65535"),
		netip.MustParseAddrPort("1.10.100.9:9"), netip.MustParseAddrPort("[::ffff:1.2.3.4]:80"),
		netip.MustParseAddrPort("[fe80::1%eth0]:443"), netip.MustParseAddrPort("[::]:10")}
	for o := 0; o < 256; o++ {
		for _, p := range []uint16{0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535} {
			aps = append(aps, netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(o), byte(255 - o), byte(o / 2), byte(o)}), p))
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 100000; i++ {
		aps = append(aps, randomAddrPort(r))
	}
	for _, ap := range aps {
		if got, want := appendAddrPort(nil, ap), refAppendAddrPort(nil, ap); string(got) != string(want) {
			t.Fatalf("%v: got %s, want %s", ap, got, want)
		}
	}
}

func checkMillis(t *testing.T, us int64) {
	t.Helper()
	want := strconv.AppendFloat(nil, float64(us)/1000, 'f', -1, 64)
	if got := appendMillis(nil, us); string(got) != string(want) {
		t.Fatalf("%d µs: got %s, want %s", us, got, want)
	}
}

func TestAppendMillisMatchesStrconv(t *testing.T) {
	edges := []int64{0, 1, -1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 1010, 1100, 1500, 2462, 12000, 1000500,
		1e15 - 1, 1e15, 1e15 + 1, -1e15 + 1, -1e15, -1e15 - 1, 1 << 53, 1<<53 + 1, 1<<53 - 1,
		math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}
	for p := int64(1); p > 0 && p <= math.MaxInt64/10; p *= 10 {
		for _, d := range []int64{-1, 0, 1, 7} {
			edges = append(edges, p+d, -(p + d), 9*p+d, 999*p+d)
		}
	}
	for _, us := range edges {
		checkMillis(t, us)
	}
	for us := int64(-100000); us <= 100000; us++ {
		checkMillis(t, us)
	}
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 1000000; i++ {
		us := r.Int64() >> r.IntN(64)
		if r.IntN(2) == 0 {
			us = -us
		}
		checkMillis(t, us)
	}
}

func FuzzAppendEscaped(f *testing.F) {
	for _, s := range []string{"", "abcdefgh", "a\"b", "0123456789abcdef\xff", "\u2028\u2029 \x7f\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendEscaped(nil, s), refAppendEscaped(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

func FuzzAppendMillis(f *testing.F) {
	for _, us := range []int64{0, 1, 2462, 1e15 - 1, math.MaxInt64, math.MinInt64} {
		f.Add(us)
	}
	f.Fuzz(checkMillis)
}

// The 8-byte scan must agree with the byte-at-a-time reference at every
// alignment and for every byte value next to clean runs.
func TestAppendEscapedMatchesReference(t *testing.T) {
	for b := 0; b < 256; b++ {
		for pre := 0; pre < 18; pre++ {
			for post := 0; post < 10; post++ {
				s := strings.Repeat("a", pre) + string([]byte{byte(b)}) + strings.Repeat("z", post)
				if got, want := appendEscaped(nil, s), refAppendEscaped(nil, s); string(got) != string(want) {
					t.Fatalf("%q: got %s, want %s", s, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 200000; i++ {
		s := oddString(r)
		if got, want := appendEscaped(nil, s), refAppendEscaped(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
}

// AppendCallJSON writes these names without escaping them.
func TestNamesNeedNoEscaping(t *testing.T) {
	var names []string
	for i := 0; i <= 256; i++ {
		names = append(names, model.AuthScheme(i).String(), model.PrincipalKind(i).String())
	}
	for i := 0; i < model.NumFlags; i++ {
		names = append(names, model.FlagName(i))
	}
	for _, n := range names {
		if got := appendString(nil, n); string(got) != `"`+n+`"` {
			t.Fatalf("%q needs escaping: %s", n, got)
		}
	}
}

func TestAppendUintMatchesStrconv(t *testing.T) {
	vals := []uint64{math.MaxUint64, math.MaxUint64 - 1, 1 << 63, math.MaxInt64}
	for p := uint64(1); p <= 1e19; p *= 10 {
		vals = append(vals, p-1, p, p+1)
		if p == 1e19 {
			break
		}
	}
	for v := uint64(0); v < 200000; v++ {
		vals = append(vals, v)
	}
	for _, v := range vals {
		if got, want := appendUint(nil, v), strconv.AppendUint(nil, v, 10); string(got) != string(want) {
			t.Fatalf("%d: got %s, want %s", v, got, want)
		}
		i := int64(v)
		if got, want := appendInt(nil, i), strconv.AppendInt(nil, i, 10); string(got) != string(want) {
			t.Fatalf("%d: got %s, want %s", i, got, want)
		}
		if got, want := appendInt(nil, -i), strconv.AppendInt(nil, -i, 10); string(got) != string(want) {
			t.Fatalf("%d: got %s, want %s", -i, got, want)
		}
	}
}

func BenchmarkAppendUint(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendUint(buf[:0], 200)
		}
	})
	b.Run("strconv", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = strconv.AppendUint(buf[:0], 200, 10)
		}
	})
}

func TestLatencyMicros(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	now := time.Now() // monotonic reading
	check := func(ts, resp time.Time) {
		t.Helper()
		c := &model.Call{TS: ts, RespTS: resp}
		if got, want := latencyMicros(c), c.Latency().Microseconds(); got != want {
			t.Fatalf("TS %v RespTS %v: got %d, want %d", ts, resp, got, want)
		}
	}
	check(time.Time{}, now)
	check(now, time.Time{})
	check(time.Time{}, time.Time{})
	check(now, now.Add(1500*time.Microsecond))
	check(now.Add(1500*time.Microsecond), now)
	check(now, now.Add(1499)) // sub-microsecond remainder
	// Monotonic and wall clock disagree: Sub follows the monotonic reading
	// when both times carry one.
	skewed := now.Add(time.Second).Round(0).Add(-5 * time.Hour) // no monotonic
	check(now, skewed)
	check(skewed, now)
	check(time.Unix(0, 0), time.Unix(1<<32, 0))
	check(time.Unix(0, 0), time.Unix(1<<32+1, 0))
	check(time.Unix(-1<<62, 0), time.Unix(1<<62, 0)) // beyond maxDuration
	check(time.Unix(1<<62, 0), time.Unix(-1<<62, 0))
	for i := 0; i < 200000; i++ {
		ts := randomTime(r)
		var resp time.Time
		switch r.IntN(4) {
		case 0:
			resp = randomTime(r)
		case 1:
			resp = ts.Add(time.Duration(r.Int64() >> r.IntN(64)))
		case 2:
			resp = ts.Add(-time.Duration(r.Int64N(1e9)))
		default:
			resp = ts.Add(time.Duration(r.Int64N(1e10)))
		}
		check(ts, resp)
		if r.IntN(4) == 0 {
			check(now, now.Add(time.Duration(r.Int64()>>r.IntN(64))))
		}
	}
}

func BenchmarkLatencyMicros(b *testing.B) {
	c := realisticCall()
	var sink int64
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink += latencyMicros(c)
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink += c.Latency().Microseconds()
		}
	})
	_ = sink
}

// refAppendCallJSON is the encoder as it was before the hand-written time,
// address, latency and 8-bytes-at-a-time string formatting: it leans on
// time.AppendFormat, netip.AddrPort.AppendTo and strconv.AppendFloat, and
// is kept as the reference the current encoder must match byte for byte.
func refAppendCallJSON(dst []byte, c *model.Call) []byte {
	dst = append(dst, `{"ts":`...)
	dst = refAppendTime(dst, c.TS)
	dst = append(dst, `,"src":`...)
	dst = refAppendAddrPort(dst, c.Src)
	dst = append(dst, `,"dst":`...)
	dst = refAppendAddrPort(dst, c.Dst)
	dst = append(dst, `,"host":`...)
	dst = refAppendString(dst, c.Host)
	dst = append(dst, `,"method":`...)
	dst = refAppendString(dst, c.Method)
	dst = append(dst, `,"uri":`...)
	dst = refAppendString(dst, c.URI)
	dst = append(dst, `,"path":`...)
	dst = refAppendString(dst, c.Path)
	dst = append(dst, `,"template":`...)
	dst = refAppendString(dst, c.Template)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendUint(dst, uint64(c.Status), 10)
	dst = append(dst, `,"req_body_bytes":`...)
	dst = strconv.AppendInt(dst, c.ReqBody.Bytes, 10)
	dst = append(dst, `,"resp_body_bytes":`...)
	dst = strconv.AppendInt(dst, c.RespBody.Bytes, 10)
	dst = append(dst, `,"user_agent":`...)
	dst = refAppendString(dst, c.UserAgent)
	dst = append(dst, `,"principal":`...)
	if c.Principal.ID == "" {
		dst = append(dst, `""`...)
	} else {
		dst = append(dst, '"')
		dst = append(dst, c.Principal.Kind.String()...)
		dst = append(dst, ':')
		dst = refAppendEscaped(dst, c.Principal.ID)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"latency_ms":`...)
	dst = strconv.AppendFloat(dst, float64(c.Latency().Microseconds())/1000, 'f', -1, 64)

	// Beyond the contract's fields: what a detector or an analyst needs to
	// judge the call without the pcap.
	dst = append(dst, `,"proto":`...)
	dst = refAppendString(dst, c.Proto)
	// The reason phrase is noise; the status as sent matters only when it
	// did not parse as a number (e.g. "2XX").
	if c.Status == 0 && c.StatusText != "" {
		dst = append(dst, `,"status_text":`...)
		dst = refAppendString(dst, c.StatusText)
	}
	if c.ClientIP.IsValid() && c.ClientIP != c.Src.Addr() {
		dst = append(dst, `,"client_ip":`...)
		dst = append(dst, '"')
		dst = c.ClientIP.AppendTo(dst)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"auth":`...)
	dst = refAppendString(dst, c.Auth.Scheme.String())
	if c.ReqBody.ContentType != "" {
		dst = append(dst, `,"req_content_type":`...)
		dst = refAppendString(dst, c.ReqBody.ContentType)
	}
	if c.RespBody.ContentType != "" {
		dst = append(dst, `,"resp_content_type":`...)
		dst = refAppendString(dst, c.RespBody.ContentType)
	}
	if c.Tunnel != 0 {
		dst = append(dst, `,"tunnel":`...)
		dst = strconv.AppendUint(dst, c.Tunnel, 10)
	}
	if len(c.Interim) > 0 {
		dst = append(dst, `,"interim":[`...)
		for i, s := range c.Interim {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(s), 10)
		}
		dst = append(dst, ']')
	}
	if c.Flags != 0 {
		dst = append(dst, `,"flags":[`...)
		for i := 0; i < model.NumFlags; i++ {
			if c.Flags&(1<<i) == 0 {
				continue
			}
			if dst[len(dst)-1] != '[' {
				dst = append(dst, ',')
			}
			dst = refAppendString(dst, model.FlagName(i))
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// refAppendTime writes RFC 3339 with nanoseconds in UTC, or null for the zero
// time (a response-only call has no request start).
func refAppendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func refAppendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(dst, `""`...)
	}
	dst = append(dst, '"')
	dst = ap.AppendTo(dst)
	return append(dst, '"')
}

const refHexDigits = "0123456789abcdef"

// refAppendString writes s as a JSON string with the same escaping rules as
// encoding/json with SetEscapeHTML(false) (control characters, quotes,
// backslash, U+2028/2029; '&' stays readable in query strings),
// replacing invalid UTF-8 with U+FFFD: URIs on the wire are not always UTF-8.
func refAppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = refAppendEscaped(dst, s)
	return append(dst, '"')
}

// refAppendEscaped is refAppendString without the quotes.
func refAppendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', refHexDigits[b>>4], refHexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', refHexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
