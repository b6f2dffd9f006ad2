package capture

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// This file checks CompileFilter against tcpdump's semantics on random
// expressions: a generator writes expressions over the vocabulary the
// built-in compiler's grammar (filterGrammar) is about, constructs it
// refuses included, and a reference evaluator says which frames tcpdump
// would accept. Every expression CompileFilter accepts must filter the
// frames as tcpdump does; what it refuses only counts.
//
// The reference follows pcap-filter(7) and libpcap 1.10:
//   - "and" and "or" have equal precedence and associate left to right
//     ("a or b and c" is "(a or b) and c"); "not" binds to the next term.
//   - tcp, udp: the IPv4 protocol or IPv6 next header field (the frames
//     carry no IPv6 extension headers); icmp is IPv4's only.
//   - port N: a TCP or UDP (or SCTP, absent here) source or destination
//     port, over IPv4 (only with a fragment offset of 0) and IPv6; "tcp
//     port N" and "udp port N" restrict the protocol.
//   - host A, net P with IPv4 A or P: the IPv4 source or destination (ARP
//     and RARP too, but the frames carry none); with IPv6 A, IPv6's.
//   - src, dst, "src or dst" (the default) and "src and dst" pick the
//     address or port compared.
//   - a bare value after an "and" or "or" takes the qualifiers of the
//     primitive before it ("port 80 or 443" is "port 80 or port 443").
//
// TestFilterReferenceVsTcpdump checks the reference itself against
// tcpdump's compiler where tcpdump is installed (APISENSOR_TCPDUMP=1).

// diffFrame is a test frame and the fields tcpdump's primitives read.
type diffFrame struct {
	name         string
	data         []byte
	v4, v6       bool
	proto        uint8 // IPv4 protocol or IPv6 next header
	src, dst     netip.Addr
	ports        bool // a TCP or UDP header tcpdump reads ports from
	sport, dport uint16
}

func (f *diffFrame) String() string {
	var p string
	switch f.proto {
	case 6:
		p = "TCP"
	case 17:
		p = "UDP"
	default:
		p = fmt.Sprintf("proto %d", f.proto)
	}
	if !f.ports {
		return fmt.Sprintf("%s %v > %v", p, f.src, f.dst)
	}
	return fmt.Sprintf("%s %v:%d > %v:%d", p, f.src, f.sport, f.dst, f.dport)
}

// describeFrame decodes what tcpdump's primitives see in an Ethernet
// frame (no VLAN tag: the kernel strips it before the socket filter).
func describeFrame(name string, b []byte) diffFrame {
	f := diffFrame{name: name, data: b}
	ip := b[14:]
	var l4 []byte
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		f.v4, f.proto = true, ip[9]
		f.src, f.dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		l4 = ip[int(ip[0]&0xf)*4:]
		f.ports = (f.proto == 6 || f.proto == 17) && binary.BigEndian.Uint16(ip[6:])&0x1fff == 0
	case 0x86dd:
		f.v6, f.proto = true, ip[6]
		f.src, f.dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		l4 = ip[40:]
		f.ports = f.proto == 6 || f.proto == 17
	}
	if f.ports {
		f.sport, f.dport = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	}
	return f
}

// ipv4Checksum recomputes the header checksum of the IPv4 header at
// frame[14:] after a test edited it.
func ipv4Checksum(frame []byte) {
	h := frame[14 : 14+int(frame[14]&0xf)*4]
	h[10], h[11] = 0, 0
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
}

// diffFrames builds the frame set: TCP and UDP over IPv4 and IPv6 in both
// directions between addresses of the generator's pools, frames whose
// bytes where the ports would be look like pool ports (ICMP, ICMPv6, a
// non-first fragment, IPv4 options), and a first fragment, whose ports
// count. Each frame is checked against the description it was built for.
func diffFrames(t testing.TB) []diffFrame {
	a, b, c := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.168.7.9"), netip.MustParseAddr("11.2.3.4")
	seg := func(udp bool, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) innerSpec {
		s := defaultInner()
		s.udp, s.src, s.sport, s.dst, s.dport = udp, src, sport, dst, dport
		return s
	}
	v6 := func(s innerSpec, reverse bool) innerSpec {
		s = s.v6()
		if reverse {
			s.src, s.dst = s.dst, s.src
		}
		return s
	}
	eth4 := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}

	// ICMP echo reply with code 80: where a port would be, 80.
	icmp := ser(t, eth4, &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: a.AsSlice(), DstIP: b.AsSlice()},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 80)}, gopacket.Payload("ping"))
	// ICMPv6 whose first bytes read as ports 80 and 53.
	icmp6 := outerIP(t, true, layers.IPProtocolICMPv6, []byte{0, 80, 0, 53, 0, 0, 0, 0})
	// A non-first fragment of a TCP segment whose first bytes read as
	// ports 443 and 80: port primitives must not match it, tcp and host do.
	frag := ser(t, eth4, &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 99, FragOffset: 185, Protocol: layers.IPProtocolTCP, SrcIP: c.AsSlice(), DstIP: a.AsSlice()},
		gopacket.Payload([]byte{0x01, 0xbb, 0, 80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}))
	// The first fragment (more fragments, offset 0) carries the ports.
	first := seg(false, b, 5353, c, 53).eth(t)
	first[14+6] |= 0x20
	ipv4Checksum(first)
	// IPv4 options (NOP, NOP, EOL, padding 80): 20 bytes in, where the
	// ports of an option-less header would be, 257 and 80.
	plain := seg(true, c, 53, b, 443).eth(t)
	opts := slices.Concat(plain[:34], []byte{1, 1, 0, 80}, plain[34:])
	opts[14] = 0x46
	binary.BigEndian.PutUint16(opts[16:], binary.BigEndian.Uint16(opts[16:])+4)
	ipv4Checksum(opts)

	tcp6 := seg(false, a, 40001, b, 80)
	tcp6r := seg(false, a, 443, b, 5353)
	udp6 := seg(true, a, 53, b, 40001)
	frames := []struct {
		name string
		data []byte
		want string
	}{
		{"tcp4", seg(false, a, 40001, b, 80).eth(t), "TCP 10.1.2.3:40001 > 192.168.7.9:80"},
		{"tcp4-reply", seg(false, b, 80, a, 40001).eth(t), "TCP 192.168.7.9:80 > 10.1.2.3:40001"},
		{"tcp4-dns", seg(false, c, 53, a, 443).eth(t), "TCP 11.2.3.4:53 > 10.1.2.3:443"},
		{"udp4", seg(true, a, 5353, b, 53).eth(t), "UDP 10.1.2.3:5353 > 192.168.7.9:53"},
		{"udp4-quic", seg(true, b, 443, c, 40001).eth(t), "UDP 192.168.7.9:443 > 11.2.3.4:40001"},
		{"tcp6", v6(tcp6, false).eth(t), "TCP 2001:db8::1:40001 > 2001:db8:ffff::2:80"},
		{"tcp6-reply", v6(tcp6r, true).eth(t), "TCP 2001:db8:ffff::2:443 > 2001:db8::1:5353"},
		{"udp6", v6(udp6, false).eth(t), "UDP 2001:db8::1:53 > 2001:db8:ffff::2:40001"},
		{"icmp4", icmp, "proto 1 10.1.2.3 > 192.168.7.9"},
		{"icmp6", icmp6, "proto 58 fd00::1 > fd00::2"},
		{"frag4", frag, "TCP 11.2.3.4 > 10.1.2.3"},
		{"firstfrag4", first, "TCP 192.168.7.9:5353 > 11.2.3.4:53"},
		{"opts4", opts, "UDP 11.2.3.4:53 > 192.168.7.9:443"},
	}
	var out []diffFrame
	for _, fr := range frames {
		d := describeFrame(fr.name, fr.data)
		if d.String() != fr.want {
			t.Fatalf("frame %s decodes as %q, built as %q", fr.name, d.String(), fr.want)
		}
		out = append(out, d)
	}
	return out
}

// fexpr is a generated expression's meaning under tcpdump.
type fexpr interface{ eval(f *diffFrame) bool }

// fprim is a primitive: tcp, udp, icmp, ip, ip6, or [proto] [dir] host,
// net or port with its value.
type fprim struct {
	kind  string
	proto string // "tcp" or "udp" before port
	dir   string // "", "src", "dst", "src or dst", "src and dst"
	addr  netip.Addr
	pfx   netip.Prefix
	port  uint16
}

func (p *fprim) dirMatch(src, dst bool) bool {
	switch p.dir {
	case "src":
		return src
	case "dst":
		return dst
	case "src and dst":
		return src && dst
	}
	return src || dst
}

func (p *fprim) eval(f *diffFrame) bool {
	switch p.kind {
	case "tcp":
		return f.proto == 6
	case "udp":
		return f.proto == 17
	case "icmp":
		return f.v4 && f.proto == 1
	case "ip":
		return f.v4
	case "ip6":
		return f.v6
	case "host":
		if p.addr.Is4() != f.v4 || p.addr.Is6() != f.v6 {
			return false
		}
		return p.dirMatch(f.src == p.addr, f.dst == p.addr)
	case "net":
		return f.v4 && p.dirMatch(p.pfx.Contains(f.src), p.pfx.Contains(f.dst))
	case "port":
		switch {
		case !f.ports:
			return false
		case p.proto == "tcp" && f.proto != 6, p.proto == "udp" && f.proto != 17:
			return false
		}
		return p.dirMatch(f.sport == p.port, f.dport == p.port)
	}
	panic("unknown primitive " + p.kind)
}

type fnot struct{ x fexpr }

func (n fnot) eval(f *diffFrame) bool { return !n.x.eval(f) }

// flist is terms joined by and/or, evaluated left to right with equal
// precedence; a parenthesised group is an flist term.
type flist struct {
	terms []fexpr
	or    []bool // or[i] joins terms[i] and terms[i+1]
}

func (l *flist) eval(f *diffFrame) bool {
	v := l.terms[0].eval(f)
	for i, t := range l.terms[1:] {
		if l.or[i] {
			v = v || t.eval(f)
		} else {
			v = v && t.eval(f)
		}
	}
	return v
}

// filterGen writes random expressions. pick(n) returns a number in
// [0, n); a source that returns only zeros (an exhausted fuzz input)
// gives the shortest expression, one "tcp", so generation always ends.
type filterGen struct {
	pick  func(n int) int
	valid bool // tcpdump accepts what was written so far
}

// chance is true pct times in 100, and never when pick returns 0.
func (g *filterGen) chance(pct int) bool { return g.pick(100) >= 100-pct }

func (g *filterGen) oneOf(s ...string) string { return s[g.pick(len(s))] }

// kw spells keywords (possibly several words) in a random case.
func (g *filterGen) kw(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		switch g.pick(10) {
		case 6:
			w = strings.ToUpper(w)
		case 7:
			w = strings.ToUpper(w[:1]) + w[1:]
		case 8, 9:
			b := []byte(w)
			for j := range b {
				if g.pick(2) == 1 {
					b[j] = strings.ToUpper(string(b[j]))[0]
				}
			}
			w = string(b)
		}
		words[i] = w
	}
	return strings.Join(words, g.sep())
}

func (g *filterGen) sep() string {
	switch g.pick(50) {
	case 48:
		return "  "
	case 49:
		return "\t"
	}
	return " "
}

var (
	genHosts = []string{"10.1.2.3", "192.168.7.9", "11.2.3.4", "10.9.9.9"}
	genNets  = []string{"10.0.0.0/8", "192.168.0.0/16", "11.0.0.0/8", "10.1.2.0/24", "192.168.7.9/32"}
	genPorts = []uint16{80, 53, 443, 5353, 40001}
)

// expr writes one expression; g.valid says whether tcpdump accepts it.
func (g *filterGen) expr() (string, fexpr) {
	g.valid = true
	s, e := g.list(0)
	if g.chance(4) {
		// Broken syntax, whatever the words.
		g.valid = false
		switch g.pick(5) {
		case 0:
			s += " " + g.kw("and")
		case 1:
			s = g.kw("or") + " " + s
		case 2:
			s += ")"
		case 3:
			s = "(" + s
		case 4:
			s = "() " + g.kw("and") + " " + s
		}
	}
	return s, e
}

// list writes terms joined by and/or. Joiners are random, all "and", all
// "or", or "and"s then "or"s; now and then a list is long, past what
// go-pcap's 8-bit instruction counts hold.
func (g *filterGen) list(depth int) (string, *flist) {
	n := 1 + g.pick(3)
	if g.chance(15) {
		n += 1 + g.pick(3)
	}
	if depth <= 1 && g.chance(3) {
		n = 8 + g.pick(8)
	}
	mode := g.pick(4)
	l := &flist{}
	var b strings.Builder
	var prev *fprim
	var texts []string
	var prevs []*fprim
	var bares []bool
	for i := range n {
		if i > 0 {
			var or bool
			switch mode {
			case 0:
				or = g.pick(2) == 1
			case 2:
				or = true
			case 3:
				or = 2*i > n
			}
			l.or = append(l.or, or)
			j := g.kw(map[bool]string{false: "and", true: "or"}[or])
			if g.chance(3) {
				j = map[bool]string{false: "&&", true: "||"}[or]
			}
			b.WriteString(g.sep() + j + g.sep())
		}
		var s string
		var t fexpr
		var p *fprim
		bare := false
		if k := g.pick(max(i, 1)); i > 0 && !bares[k] && g.chance(12) {
			// A term again ("tcp and tcp"): go-pcap merges equal
			// and combinable primitives of an "and". (Not a bare
			// value: it would take other qualifiers here.)
			s, t, p = texts[k], l.terms[k], prevs[k]
		} else {
			s, t, p, bare = g.term(depth, prev)
		}
		prev = p
		texts, prevs, bares = append(texts, s), append(prevs, p), append(bares, bare)
		b.WriteString(s)
		l.terms = append(l.terms, t)
	}
	return b.String(), l
}

// term writes a parenthesised list, a primitive, a negated term or a bare
// value that takes the qualifiers of the primitive before it (prev); it
// returns the primitive a bare value after it would take its qualifiers
// from, and whether it wrote a bare value.
func (g *filterGen) term(depth int, prev *fprim) (s string, e fexpr, p *fprim, bare bool) {
	switch {
	case depth < 3 && g.chance(30):
		in, l := g.list(depth + 1)
		if g.pick(2) == 0 {
			s, e = "("+in+")", l
		} else {
			s, e = "( "+in+" )", l
		}
	case prev != nil && prev.kind != "tcp" && prev.kind != "udp" && prev.kind != "icmp" && prev.kind != "ip" && prev.kind != "ip6" && g.chance(5):
		q := *prev
		p = &q
		s, e, bare = g.value(p), p, true
	default:
		s, p = g.prim()
		e = p
	}
	if g.chance(4) {
		return g.oneOf("not ", "NOT ", "!") + s, fnot{e}, nil, bare
	}
	return s, e, p, bare
}

// prim writes a primitive, now and then in a form tcpdump refuses.
func (g *filterGen) prim() (string, *fprim) {
	p := &fprim{}
	var words []string
	switch k := g.pick(100); {
	case k < 12:
		p.kind = "tcp"
	case k < 22:
		p.kind = "udp"
	case k < 42:
		p.kind = "host"
	case k < 57:
		p.kind = "net"
	case k < 77:
		p.kind = "port"
	case k < 94:
		p.kind, p.proto = "port", g.oneOf("tcp", "udp")
	case k < 96:
		p.kind = "icmp"
	case k < 98:
		p.kind = "ip"
	default:
		p.kind = "ip6"
	}
	switch p.kind {
	case "tcp", "udp", "icmp", "ip", "ip6":
		return g.kw(p.kind), p
	}
	switch d := g.pick(100); {
	case d < 20:
		p.dir = "src"
	case d < 40:
		p.dir = "dst"
	case d < 44:
		p.dir = "src or dst"
	case d < 48:
		p.dir = "src and dst"
	}
	if p.proto != "" {
		words = append(words, p.proto)
	} else if g.chance(4) {
		// "tcp host X", "udp src net P": tcpdump refuses a protocol
		// before host or net ("'tcp' modifier applied to host").
		pr := g.oneOf("tcp", "udp")
		words = append(words, pr)
		if p.kind == "port" {
			p.proto = pr
		} else {
			g.valid = false
		}
	}
	if p.dir != "" {
		words = append(words, p.dir)
	}
	if p.proto != "" && p.dir != "" && g.chance(4) {
		// "src tcp port 80": qualifiers out of order, a syntax error.
		words[0], words[1] = words[1], words[0]
		g.valid = false
	}
	words = append(words, p.kind)
	return g.kw(strings.Join(words, " ")) + g.sep() + g.value(p), p
}

// value draws p's value from the pools the frames use, now and then one
// the grammar refuses (valid in tcpdump or not).
func (g *filterGen) value(p *fprim) string {
	switch p.kind {
	case "host":
		switch {
		case g.chance(4):
			p.addr = netip.MustParseAddr("2001:db8::1")
		case g.chance(2):
			g.valid = false // "Mask syntax for networks only"
			return "10.0.0.0/8"
		default:
			p.addr = netip.MustParseAddr(g.oneOf(genHosts...))
		}
		return p.addr.String()
	case "net":
		switch {
		case g.chance(3):
			p.pfx = netip.MustParsePrefix("10.1.2.3/32") // "net 10.1.2.3"
			return "10.1.2.3"
		case g.chance(3):
			g.valid = false // "non-network bits set"
			return "10.1.2.3/8"
		default:
			p.pfx = netip.MustParsePrefix(g.oneOf(genNets...))
		}
		return p.pfx.String()
	case "port":
		switch {
		case g.chance(2):
			p.port = 0
		case g.chance(2):
			g.valid = false // "illegal port number 70000 > 65535"
			return "70000"
		default:
			p.port = genPorts[g.pick(len(genPorts))]
		}
		return fmt.Sprint(p.port)
	}
	panic("no value for " + p.kind)
}

// filterDiffStats counts what happened to generated expressions.
type filterDiffStats struct {
	generated, accepted, refused, refusedValid int
	bad                                        map[string]string // accepted expression -> what is wrong
}

// check compiles expr and runs an accepted program on every frame. It
// records a disagreement with tcpdump (valid: whether tcpdump accepts
// expr, e: what it means then) and returns it ("" if none).
func (st *filterDiffStats) check(frames []diffFrame, expr string, e fexpr, valid bool) string {
	st.generated++
	prog, err := CompileFilter(expr, 0)
	if err != nil {
		st.refused++
		if valid {
			st.refusedValid++
		}
		return ""
	}
	st.accepted++
	problem := diffProgram(frames, prog, e, valid)
	if problem != "" {
		if st.bad == nil {
			st.bad = map[string]string{}
		}
		st.bad[expr] = problem
	}
	return problem
}

func diffProgram(frames []diffFrame, prog []bpf.RawInstruction, e fexpr, valid bool) string {
	if !valid {
		return "accepted, but tcpdump refuses this expression"
	}
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		return "the program does not disassemble"
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return fmt.Sprintf("the BPF VM refuses the program: %v", err)
	}
	var diffs []string
	for i := range frames {
		f := &frames[i]
		n, err := vm.Run(f.data)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: VM error %v", f.name, err))
			continue
		}
		if got, want := n > 0, e.eval(f); got != want {
			diffs = append(diffs, fmt.Sprintf("%s [%v]: program %s, tcpdump %s", f.name, f, verdict(got), verdict(want)))
		}
	}
	if len(diffs) > 3 {
		diffs = append(diffs[:3], fmt.Sprintf("and %d more frames", len(diffs)-3))
	}
	return strings.Join(diffs, "; ")
}

func verdict(accept bool) string {
	if accept {
		return "accepts"
	}
	return "drops"
}

// shapeRE finds the words filterShape replaces.
var shapeRE = regexp.MustCompile(`[0-9.]+/[0-9]+|[0-9]+\.[0-9.]+|[0-9]+|tcp|udp|\s+|\(\s*|\s*\)`)

// filterShape is an expression with its case, spacing and values
// dropped ("Tcp and HOST 10.1.2.3" and "udp and host 11.2.3.4" are both
// "proto and host A"), so that one kind of mistranslation is reported
// once, not in all its spellings.
func filterShape(expr string) string {
	return shapeRE.ReplaceAllStringFunc(strings.ToLower(expr), func(w string) string {
		switch {
		case strings.TrimSpace(w) == "":
			return " "
		case strings.Contains(w, "("):
			return "("
		case strings.Contains(w, ")"):
			return ")"
		case strings.Contains(w, "/"):
			return "P"
		case strings.Contains(w, "."):
			return "A"
		case w == "tcp" || w == "udp":
			return "proto"
		}
		return "N"
	})
}

// report fails t with one example, the shortest, of each of the first
// limit shapes of disagreeing expressions, shortest first.
func (st *filterDiffStats) report(t *testing.T, limit int) {
	if len(st.bad) == 0 {
		return
	}
	shortest := func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	}
	example := map[string]string{} // shape -> shortest expression
	count := map[string]int{}
	for x := range st.bad {
		sh := filterShape(x)
		count[sh]++
		if e, ok := example[sh]; !ok || shortest(x, e) < 0 {
			example[sh] = x
		}
	}
	shapes := slices.Collect(maps.Keys(example))
	slices.SortFunc(shapes, func(a, b string) int { return shortest(example[a], example[b]) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d accepted expressions (%d shapes) are not filtered as tcpdump filters them; the shortest of the first %d shapes:",
		len(st.bad), len(shapes), min(limit, len(shapes)))
	for _, sh := range shapes[:min(limit, len(shapes))] {
		fmt.Fprintf(&b, "\n  %q (1 of %d like it): %s", example[sh], count[sh], st.bad[example[sh]])
	}
	t.Error(b.String())
}

// TestCompileFilterDifferential compiles a few thousand random
// expressions; every one CompileFilter accepts must accept and drop the
// frames tcpdump's semantics accept and drop.
func TestCompileFilterDifferential(t *testing.T) {
	frames := diffFrames(t)
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	const total = 30000
	var st filterDiffStats
	for range total {
		g := filterGen{pick: r.IntN}
		s, e := g.expr()
		st.check(frames, s, e, g.valid)
	}
	t.Logf("%d expressions on %d frames in %v: %d accepted, %d refused (%d of them valid tcpdump), %d accepted ones disagree with tcpdump",
		st.generated, len(frames), time.Since(start).Round(time.Millisecond), st.accepted, st.refused, st.refusedValid, len(st.bad))
	st.report(t, 20)
	if st.accepted*5 < st.generated {
		t.Errorf("only %d of %d expressions accepted: the generator misses the grammar", st.accepted, st.generated)
	}
}

// byteSource makes a fuzz input the generator's choices, one byte each
// (two for a choice among more than 256); an exhausted input picks 0.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) pick(n int) int {
	var v int
	for k := 1; k < n && s.i < len(s.b); k <<= 8 {
		v = v<<8 | int(s.b[s.i])
		s.i++
	}
	return v % n
}

// FuzzCompileFilter drives the generator with the fuzz input: no panic,
// and an accepted expression filters the frames as tcpdump does. The
// input is also compiled as it is, which must not panic either, and an
// accepted expression must give a program the BPF VM runs.
func FuzzCompileFilter(f *testing.F) {
	frames := diffFrames(f)
	f.Add([]byte{})
	f.Add([]byte("tcp and (port 80 or port 443)"))
	f.Add([]byte{40, 0, 60, 99, 7, 0, 1, 30, 50, 60, 2, 3, 0, 90, 99, 5, 70, 11, 4})
	f.Add([]byte{5, 3, 80, 99, 2, 71, 40, 0, 25, 99, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := byteSource{b: data}
		g := filterGen{pick: src.pick}
		s, e := g.expr()
		var st filterDiffStats
		if problem := st.check(frames, s, e, g.valid); problem != "" {
			t.Fatalf("%q: %s", s, problem)
		}
		raw := string(data)
		if IsRawBPF(raw) {
			return
		}
		prog, err := CompileFilter(raw, 0)
		if err != nil || prog == nil {
			return
		}
		ins, ok := bpf.Disassemble(prog)
		if !ok {
			t.Fatalf("%q: program does not disassemble: %v", raw, prog)
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatalf("%q: the BPF VM refuses the program: %v", raw, err)
		}
		for i := range frames {
			if _, err := vm.Run(frames[i].data); err != nil {
				t.Fatalf("%q on %s: %v", raw, frames[i].name, err)
			}
		}
	})
}

// TestFilterReferenceVsTcpdump checks the reference evaluator itself:
// with APISENSOR_TCPDUMP=1 and tcpdump installed, each generated
// expression is compiled by tcpdump (libpcap, optimizer off) and run on
// the frames; tcpdump must accept exactly the expressions the generator
// calls valid and filter as the reference says. It starts one tcpdump
// per expression (some seconds), so it is off by default.
func TestFilterReferenceVsTcpdump(t *testing.T) {
	if os.Getenv("APISENSOR_TCPDUMP") == "" {
		t.Skip("set APISENSOR_TCPDUMP=1 to check the reference against tcpdump")
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed")
	}
	frames := diffFrames(t)
	// An empty Ethernet capture, for tcpdump to compile against.
	pcap := filepath.Join(t.TempDir(), "eth.pcap")
	hdr := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	hdr = binary.LittleEndian.AppendUint16(hdr, 2)
	hdr = binary.LittleEndian.AppendUint16(hdr, 4)
	hdr = binary.LittleEndian.AppendUint64(hdr, 0)
	hdr = binary.LittleEndian.AppendUint32(hdr, 65535)
	hdr = binary.LittleEndian.AppendUint32(hdr, 1)
	if err := os.WriteFile(pcap, hdr, 0o644); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	n, bad := 0, 0
	for range 1500 {
		g := filterGen{pick: r.IntN}
		s, e := g.expr()
		// tcpdump's keywords are lower case only; the built-in compiler
		// takes any case.
		out, err := exec.Command(tcpdump, "-r", pcap, "-O", "-ddd", strings.ToLower(s)).Output()
		n++
		var problem string
		switch {
		case err != nil && g.valid:
			problem = fmt.Sprintf("tcpdump refuses it: %v", err)
		case err == nil && !g.valid:
			problem = "tcpdump accepts it"
		case err == nil:
			prog, perr := parseRawBPF(strings.TrimSpace(string(out)))
			if perr != nil {
				t.Fatalf("%q: tcpdump output: %v", s, perr)
			}
			problem = diffProgram(frames, prog, e, true)
		}
		if problem != "" {
			bad++
			if bad <= 20 {
				t.Errorf("reference vs tcpdump, %q: %s", s, problem)
			}
		}
	}
	t.Logf("%d expressions compared with tcpdump, %d disagree", n, bad)
}
