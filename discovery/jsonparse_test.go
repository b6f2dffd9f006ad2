package discovery

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

var jsonCases = []string{
	`{}`, `[]`, `{"a":1}`, ` {"a" : [1, 2.5, -0, 1e9, 1E-2, 0.5e+3] , "b":{"c":null,"d":true,"e":false}} `,
	`{"a":1}trailing garbage`, `[1,2]]`, `{"a":1,"a":2}`, `{"a":01}`, `[1.]`, `[.5]`, `[-]`, `[1e]`, `[1e+]`, `[tru]`, `[truex]`,
	`[nul`, `{"a"}`, `{"a":}`, `{,}`, `[1,]`, `{"a":1,}`, `{"a":1`, `["\u00e9\n\t\"\\\/\b\f\r"]`, `["\ud83d\ude00"]`,
	`["\ud83d"]`, `["\ud83dx"]`, `["\ud83d\u0041"]`, `["\ude00\ud83d"]`, `["\ud83d\\u1234"]`, `["\x"]`, `["\u12"]`, `["\u12g4"]`,
	"[\"a\x01b\"]", "[\"caf\xc3\xa9\"]", "[\"bad\xff\xfeutf8\"]", "[\"\xed\xa0\x80\"]", "{\"k\xff\":\"v\"}", `{"a":"\u0000"}`,
	`[1,{"a":[{"b":[]}]}]`, `{"a" 1}`, `[` + "\t\r\n" + `1` + "\n" + `]`, `[1 2]`, `["a" "b"]`, `[-01]`, `[-1.5e-7]`, `{"":""}`,
	`[` + "\u00a0" + `1]`, `{"x":"y"}` + "\n" + `{"z":1}`, "\u00a0{\"a\":1}\u00a0", `"str"`, `1`, ``, ` `,
	`{"b":{"y":1,"x":[{"q":1,"p":2}]},"a":[{"k":"v","k":"w"}],"b":{"z":"2024-01-01"}}`,
	`[{"id":"0b7e3f6a-8c1d-4e2f-9a3b-5c6d7e8f9a0b","email":"a@b.co","at":"2024-01-01T10:00:00Z","ip":"10.0.0.1","u":"https://x"}]`,
	`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}`, `[[[[[[[[[[[[1]]]]]]]]]]]]`, `[1,2,3,4,5,6,7,8,9,"x",{"a":1}]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
	strings.Repeat("[", 299) + strings.Repeat("]", 299), strings.Repeat(`{"a":`, 298) + "1" + strings.Repeat("}", 298),
	`[NaN]`, `[-Infinity]`, `[inf]`, `[+1]`, `[1-2]`, `[1e5.5]`, `["a\u00"]`, "[\"tab\there\"]", "{\"a\x01\":1}",
	`[1]x`, `{"a":"}"}]garbage`, `{"a":"\"}"}{`, `{"a":[1}]`, `{"a":1}}{`, `[{"a":1}, 2, [3]] [4]`,
}

// fastjsonDiffers reports the inputs parseBody documents as decoded
// differently from encoding/json: invalid UTF-8, \u escapes of lone or
// mismatched surrogates, nesting fastjson.MaxDepth deep or more.
func fastjsonDiffers(s string) bool {
	return !utf8.ValidString(s) || badSurrogate(s) || nesting(s) >= fastjson.MaxDepth
}

func badSurrogate(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		if s[i] != 'u' || i+5 > len(s) {
			continue
		}
		r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
		if err != nil || !utf16.IsSurrogate(rune(r)) {
			continue
		}
		if r >= 0xdc00 || i+11 > len(s) || s[i+5] != '\\' || s[i+6] != 'u' {
			return true
		}
		if lo, err := strconv.ParseUint(s[i+7:i+11], 16, 16); err != nil || lo < 0xdc00 || lo > 0xdfff {
			return true
		}
		i += 10
	}
	return false
}

// nesting is the deepest bracket nesting of s outside strings.
func nesting(s string) int {
	depth, most, inStr := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
			most = max(most, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return most
}

// TestParseBodyMatchesStd pins the parser and what is computed from
// it (schema, top keys, shape) to the encoding/json versions.
func TestParseBodyMatchesStd(t *testing.T) {
	inv := &Inventory{cfg: DefaultConfig()}
	for _, s := range jsonCases {
		checkParseBody(t, inv, s)
	}
}

func checkParseBody(t *testing.T, inv *Inventory, s string) {
	t.Helper()
	p := &inv.jp
	short := s
	if len(short) > 80 {
		short = short[:80] + "..."
	}
	v, ok := p.parseBody([]byte(s))
	if fastjsonDiffers(s) {
		return
	}
	want, wantOK := decodeJSONStd([]byte(s))
	if ok != wantOK {
		t.Fatalf("parseBody(%q) ok = %v; encoding/json: %v", short, ok, wantOK)
	}
	if !ok {
		return
	}
	if got := p.jvalAny(v); !reflect.DeepEqual(got, want) {
		t.Fatalf("parseBody(%q) = %#v; encoding/json: %#v", short, got, want)
	}
	for _, lim := range []schemaLimits{{props: 256, depth: 8}, {props: 2, depth: 2}} {
		var a, b schema
		a.addJSON(p, v, lim, 0)
		b.addAny(want, lim, 0)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("schema of %q: %+v; from encoding/json: %+v", short, a.toMap(), b.toMap())
		}
	}
	var keys nameSet
	inv.addTopKeys(&keys, v)
	if got, want := keys.sorted(), topKeysAny(want); !reflect.DeepEqual(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Fatalf("top keys of %q: %q; from encoding/json: %q", short, got, want)
	}
	if got, want := p.shapeHash(v), shapeHashAny(want); got != want {
		t.Fatalf("shape of %q: %x; from encoding/json: %x", short, got, want)
	}

}

// TestParseBodyDifferences pins the differences from encoding/json that
// parseBody documents, so a fastjson upgrade that changes one shows here.
func TestParseBodyDifferences(t *testing.T) {
	var p jsonParser
	for _, c := range []struct{ in, str string }{
		{"[\"a\xffb\"]", "a\xffb"},
		{`["\ud83d"]`, `\ud83d`},
		{`["\ud83d\u0041"]`, "\ufffd"},
	} {
		v, ok := p.parseBody([]byte(c.in))
		if !ok {
			t.Fatalf("parseBody(%q) failed", c.in)
		}
		if got := string(v.GetArray()[0].GetStringBytes()); got != c.str {
			t.Errorf("parseBody(%q) = %q, want %q", c.in, got, c.str)
		}
	}
	deep := func(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }
	if _, ok := p.parseBody([]byte(deep(fastjson.MaxDepth - 1))); !ok {
		t.Errorf("nesting %d rejected", fastjson.MaxDepth-1)
	}
	if _, ok := p.parseBody([]byte(deep(fastjson.MaxDepth))); ok {
		t.Errorf("nesting %d accepted", fastjson.MaxDepth)
	}
}

// TestSchemaSequenceMatchesStd merges a series of bodies into one schema
// (props capped, so the order of keys matters) both ways.
func TestSchemaSequenceMatchesStd(t *testing.T) {
	var p jsonParser
	lim := schemaLimits{props: 3, depth: 3}
	var a, b schema
	for _, s := range jsonCases {
		if fastjsonDiffers(s) {
			continue
		}
		if v, ok := p.parseBody([]byte(s)); ok {
			a.addJSON(&p, v, lim, 0)
			w, _ := decodeJSONStd([]byte(s))
			b.addAny(w, lim, 0)
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("merged schema %+v; from encoding/json: %+v", a.toMap(), b.toMap())
	}
}

func FuzzParseBody(f *testing.F) {
	for _, s := range jsonCases {
		if len(s) < 1000 {
			f.Add(s)
		}
	}
	inv := &Inventory{cfg: DefaultConfig()}
	f.Fuzz(func(t *testing.T, s string) { checkParseBody(t, inv, s) })
}

// FuzzMayHaveFormat: the prefilter never hides a format stringFormat
// would name.
func FuzzMayHaveFormat(f *testing.F) {
	for _, s := range []string{"alpha", "0b7e3f6a-8c1d-4e2f-9a3b-5c6d7e8f9a0b", "2024-01-01T10:00:00Z", "2024-01-01",
		"a@b.co", "https://x", "10.0.0.1", "::1", "fe80::1%eth0", "ab", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := stringFormat(s); got != "" && !mayHaveFormat([]byte(s)) {
			t.Fatalf("mayHaveFormat(%q) = false; stringFormat: %q", s, got)
		}
	})
}

const benchBody = `{"id":45512,"country_0":"alpha","city_1":"lima","locale_2":"papa","segment_3":"mike","label_4":"ember","segment_5":"romeo","carrier_6":"echo","size_7":"cobalt","city_8":"ember","region_9":"sierra","note_10":"papa","tier_11":"cobalt","brand_12":"juliet","label_13":"echo","segment_14":"yankee","channel_15":"victor","source_16":"papa","brand_17":"papa","locale_18":"tango","region_19":"denim"}`

// BenchmarkBodySchema is a sampled body's parse, schema and top keys.
func BenchmarkBodySchema(b *testing.B) {
	inv := &Inventory{cfg: DefaultConfig()}
	lim := schemaLimits{props: 64, depth: 8}
	var s schema
	var keys nameSet
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		v, ok := inv.jp.parseBody([]byte(benchBody))
		if !ok {
			b.Fatal("parse")
		}
		s.addJSON(&inv.jp, v, lim, 0)
		inv.addTopKeys(&keys, v)
	}
}

// BenchmarkBodySchemaStd is the same with encoding/json into an any.
func BenchmarkBodySchemaStd(b *testing.B) {
	lim := schemaLimits{props: 64, depth: 8}
	var s schema
	var keys nameSet
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		v, ok := decodeJSONStd([]byte(benchBody))
		if !ok {
			b.Fatal("parse")
		}
		s.addAny(v, lim, 0)
		for _, k := range topKeysAny(v) {
			keys.add(k, 64)
		}
	}
}
