package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/packetcap/go-pcap/filter"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// LiveConfig configures OpenLive.
type LiveConfig struct {
	Interface string
	// Workers is the number of AF_PACKET sockets, one per dispatcher. With
	// more than one they join a PACKET_FANOUT_HASH group (with the defrag
	// flag, so fragments of one datagram meet on one socket); the kernel's
	// flow hash is symmetric, so both directions land on the same socket.
	Workers int
	// FanoutGroup is the fanout group id. 0 derives one from the process id,
	// so that two sensors on one host do not split each other's traffic.
	FanoutGroup uint16
	RingSizeMB  int // per socket
	BlockSizeKB int // TPACKET_V3 block; a multiple of the page size, larger than the biggest frame
	Snaplen     int // bytes kept per frame, enforced by the socket filter's return value
	// Filter is a tcpdump expression compiled in process, or raw BPF in
	// `tcpdump -ddd` form (a count line, then "code jt jf k" lines; newlines
	// or commas between instructions).
	Filter  string
	Promisc bool
	// AddVLANHeader re-inserts the 802.1Q tag the NIC stripped, so a VLAN
	// id counts in the flow key as it does when reading a pcap.
	AddVLANHeader bool
}

// DefaultLiveConfig returns the configuration the CLI starts from.
func DefaultLiveConfig() LiveConfig {
	return LiveConfig{
		Workers:       1,
		RingSizeMB:    64,
		BlockSizeKB:   1024,
		Snaplen:       maxSnaplen,
		Promisc:       true,
		AddVLANHeader: true,
	}
}

// Validate reports a configuration that cannot work.
func (c LiveConfig) Validate() error {
	page := os.Getpagesize()
	switch {
	case c.Interface == "":
		return errors.New("capture: live capture needs an interface")
	case c.Workers < 1 || c.Workers > 256:
		return fmt.Errorf("capture: Workers %d out of range [1, 256]", c.Workers)
	case c.BlockSizeKB < 4 || (c.BlockSizeKB*1024)%page != 0:
		return fmt.Errorf("capture: BlockSizeKB %d must be a multiple of the page size (%d bytes)", c.BlockSizeKB, page)
	case c.RingSizeMB < 1 || c.RingSizeMB*1024 < c.BlockSizeKB:
		return fmt.Errorf("capture: RingSizeMB %d must hold at least one %d KB block", c.RingSizeMB, c.BlockSizeKB)
	case c.Snaplen < 64 || c.Snaplen > maxSnaplen:
		return fmt.Errorf("capture: Snaplen %d out of range [64, %d]", c.Snaplen, maxSnaplen)
	}
	return nil
}

// LiveStats are the kernel's TPACKET_V3 counters for one socket since its
// fanout group was complete (what came in before that is not part of the
// capture), and the frames from before then that Next skipped.
type LiveStats struct {
	Packets      uint64 // packets the socket received (including dropped ones)
	Drops        uint64 // packets dropped because the ring was full
	QueueFreezes uint64 // times the ring filled up and froze
	Early        uint64 // frames from before the group was complete, skipped
	LinkDowns    uint64 // times the interface went down under the socket (capture resumes when it is up)
}

// LiveSource reads one AF_PACKET socket. It implements Source; Next and
// Close may be called from different goroutines (Close makes a blocked
// Next return io.EOF within the poll timeout).
type LiveSource struct {
	mu     sync.Mutex // held by Next while reading the ring, and by Close
	tp     *afpacket.TPacket
	closed bool
	index  uint64
	iface  string
	ifidx  int       // the interface's index when the socket was opened
	link   uint16    // LinkEthernet, or LinkRaw on a raw-IP interface
	downs  uint64    // ENETDOWN reports (LiveStats.LinkDowns)
	down   bool      // an ENETDOWN and no packet since: Next watches for removal
	final  LiveStats // kernel counters read just before Close
	// start is when every socket of the group was in place. Frames stamped
	// before it came in between bind and the drop-all filter, before the
	// socket joined the group (so its flows may continue on another
	// socket): Next skips them and early counts them. Zero once the first
	// later frame has been read.
	start  time.Time
	early  uint64
	counts counterSum
	// base is the kernel's count at start, while the drop-all filter was
	// still on: every frame Next returns was counted after it. The early
	// frames cannot simply be taken off the count: gopacket's NewTPacket
	// reads and so resets the counters (InitSocketStats) after the ring is
	// mapped, and frames that came in before that are in the ring but no
	// longer counted (7-9 per socket against a base of 1, traffic flowing
	// while the sockets open).
	base LiveStats
}

// counterSum turns gopacket's socket counters into 64-bit totals. gopacket
// sums the kernel's read-and-reset counters in uint32s, which wrap after
// 2^32 packets (72 minutes at 1 Mpps); the differences between two reads
// are right across a wrap as long as reads come more often than that (the
// CLI reads every minute).
type counterSum struct {
	raw   [3]uint32 // packets, drops, freezes as gopacket last gave them
	total LiveStats
}

func (c *counterSum) add(cur [3]uint32) LiveStats {
	c.total.Packets += uint64(cur[0] - c.raw[0])
	c.total.Drops += uint64(cur[1] - c.raw[1])
	c.total.QueueFreezes += uint64(cur[2] - c.raw[2])
	c.raw = cur
	return c.total
}

// rejectAll is a socket filter that accepts nothing (ret #0).
var rejectAll = []bpf.RawInstruction{{Op: 0x06, K: 0}}

// livePoll bounds how long Next blocks in poll(2) before it checks for
// Close. TPACKET_V3 hands out whole blocks, retired after blockTimeout.
const (
	livePoll         = 200 * time.Millisecond
	liveBlockTimeout = 50 * time.Millisecond
	maxSnaplen       = 262144
)

// OpenLive opens cfg.Workers AF_PACKET TPACKET_V3 sockets on the interface,
// in one fanout group when there is more than one.
func OpenLive(cfg LiveConfig) ([]*LiveSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ifc, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		var names []string
		if ifs, e := net.Interfaces(); e == nil {
			for _, i := range ifs {
				names = append(names, i.Name)
			}
		}
		if cfg.Interface == "any" {
			// libpcap's pseudo-device. Every interface a packet crosses
			// (pod veth, bridge, uplink) would hand over a copy, often
			// NATed to other addresses: each copy would be another call.
			return nil, fmt.Errorf("capture: interface \"any\" is not supported: a packet is seen once per interface it crosses, and each copy would count as a call; "+
				"name the interface that carries the traffic (available: %s), one sensor per interface", strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("capture: interface %q not found (available: %s)", cfg.Interface, strings.Join(names, ", "))
	}
	link, err := interfaceLink(cfg.Interface)
	if err != nil {
		return nil, err
	}
	prog, err := compileFor(cfg.Filter, cfg.Snaplen, link)
	if err != nil {
		return nil, err
	}
	if ifc.Flags&net.FlagLoopback != 0 {
		if prog, err = dropOutgoing(prog); err != nil {
			return nil, err
		}
	}
	group := cfg.FanoutGroup
	if group == 0 {
		group = uint16(os.Getpid())
	}
	block := cfg.BlockSizeKB * 1024
	nblocks := cfg.RingSizeMB * 1024 / cfg.BlockSizeKB
	var out []*LiveSource
	fail := func(err error) ([]*LiveSource, error) {
		for _, s := range out {
			s.Close()
		}
		return nil, err
	}
	for i := 0; i < cfg.Workers; i++ {
		tp, err := afpacket.NewTPacket(
			afpacket.OptInterface(cfg.Interface),
			afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
			afpacket.OptBlockSize(block),
			afpacket.OptFrameSize(os.Getpagesize()),
			afpacket.OptNumBlocks(nblocks),
			afpacket.OptBlockTimeout(liveBlockTimeout),
			afpacket.OptPollTimeout(livePoll),
			// Only behind MAC addresses: gopacket inserts the tag at byte
			// 12 of whatever the frame is.
			afpacket.OptAddVLANHeader(cfg.AddVLANHeader && link == LinkEthernet),
		)
		if err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				return fail(fmt.Errorf("capture: open AF_PACKET socket on %s: %w: live capture needs CAP_NET_RAW (or root); grant it with `sudo setcap cap_net_raw+ep $(command -v apisensor)` or run as root", cfg.Interface, err))
			}
			return fail(fmt.Errorf("capture: open AF_PACKET socket %d on %s: %w", i, cfg.Interface, err))
		}
		s := &LiveSource{tp: tp, iface: cfg.Interface, ifidx: ifc.Index, link: link}
		out = append(out, s)
		// The socket is bound and receiving. Until every socket has joined
		// the fanout group, a bound socket outside the group gets a copy
		// of every packet, which would give the sensor each packet twice
		// (and cut flows between two readers). So each socket drops
		// everything until all have joined; then the real filter goes on.
		if err := tp.SetBPF(rejectAll); err != nil {
			return fail(fmt.Errorf("capture: attach filter on %s: %w", cfg.Interface, err))
		}
		if cfg.Promisc {
			if err := tp.SetPromiscuous(true); err != nil {
				return fail(fmt.Errorf("capture: set promiscuous mode on %s: %w", cfg.Interface, err))
			}
		}
		if cfg.Workers > 1 {
			if err := tp.SetFanout(afpacket.FanoutHash|afpacket.FanoutHashWithDefrag, group); err != nil {
				return fail(fmt.Errorf("capture: join fanout group %d on %s: %w", group, cfg.Interface, err))
			}
		}
	}
	start := time.Now()
	for _, s := range out {
		s.start = start
		base, err := s.kernelStats()
		if err != nil {
			return fail(err)
		}
		s.base = base
	}
	// One socket after another (tens of µs in all): until its turn, what
	// the fanout hands a socket is dropped by the drop-all filter, counted
	// nowhere. Swapping the filters cannot be made atomic across sockets.
	for _, s := range out {
		if err := s.tp.SetBPF(prog); err != nil {
			return fail(fmt.Errorf("capture: attach filter %q on %s: %w", cfg.Filter, cfg.Interface, err))
		}
	}
	return out, nil
}

// Next implements Source. Timestamps come from the ring; LinkType is
// Ethernet, or raw IP on an interface without a link header (interfaceLink).
// Index counts this socket's packets.
func (s *LiveSource) Next(p *Packet) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return io.EOF
	}
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	for err == nil && !s.start.IsZero() {
		if !ci.Timestamp.Before(s.start) {
			// Past the early frames, which come first in the ring. Stop
			// comparing: a clock stepped back later must not hide traffic.
			s.start = time.Time{}
			break
		}
		s.early++
		data, ci, err = s.tp.ZeroCopyReadPacketData()
	}
	s.mu.Unlock()
	switch {
	case err == nil:
		s.down = false
		s.index++
		p.Data = data
		p.TS = ci.Timestamp
		p.OrigLen = ci.Length
		p.LinkType = s.link
		p.Index = s.index
		return nil
	case errors.Is(err, afpacket.ErrTimeout):
		if s.down {
			// Down, the socket gets no second error if the interface
			// is then removed: look.
			return s.checkGone()
		}
		return ErrIdle
	case errors.Is(err, afpacket.ErrPoll):
		return s.pollError()
	}
	return fmt.Errorf("capture: read %s: %w", s.iface, err)
}

// pollError handles poll(2) reporting an error on the socket. The kernel
// sets ENETDOWN when the interface goes down (a link flap, `ip link set
// down`, a NIC reset) and puts the socket back in service, fanout group
// included, when it comes up; the error stays pending, and poll keeps
// failing, until it is read. So it is read (SO_ERROR clears it) and,
// while the interface still exists, capture waits for it: Next reports
// idle and LinkDowns counts the event. An interface removed, or replaced
// by a new one of the same name (a pod's veth), never comes back to this
// socket: that ends the capture with an error saying so, whether it was
// removed up or (no second error then) after going down.
func (s *LiveSource) pollError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return io.EOF // the descriptor is gone
	}
	errno, err := soError(s.tp)
	switch {
	case err != nil:
		return fmt.Errorf("capture: read %s: %w (and reading the socket's error failed: %v)", s.iface, afpacket.ErrPoll, err)
	case errno == 0:
		return ErrIdle // already read by another path
	case errno != unix.ENETDOWN:
		return fmt.Errorf("capture: read %s: %w", s.iface, errno)
	}
	s.downs++
	s.down = true
	return s.checkGone()
}

// checkGone ends the capture with an error when the interface was removed
// or replaced (another index under its name); else Next reports idle.
func (s *LiveSource) checkGone() error {
	if ifc, err := net.InterfaceByName(s.iface); err != nil || ifc.Index != s.ifidx {
		return fmt.Errorf("capture: interface %s was removed while capturing (%v); restart the sensor once it is back", s.iface, unix.ENETDOWN)
	}
	return ErrIdle
}

// soError reads and clears the socket's pending error (SO_ERROR).
// gopacket's TPacket does not expose its descriptor; the field is read
// by reflection (gopacket v1.7.7), and a TPacket without it is an error,
// not a guess.
func soError(tp *afpacket.TPacket) (unix.Errno, error) {
	f := reflect.ValueOf(tp).Elem().FieldByName("fd")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return 0, errors.New("afpacket.TPacket has no fd field")
	}
	v, err := unix.GetsockoptInt(int(f.Int()), unix.SOL_SOCKET, unix.SO_ERROR)
	return unix.Errno(v), err
}

// Close closes the socket; a concurrent Next returns io.EOF.
func (s *LiveSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		// Keep the kernel's counters: a run reports them after its
		// sources are closed.
		if st, err := s.kernelStats(); err == nil {
			s.final = st
		}
		s.closed = true
		s.tp.Close()
	}
	return nil
}

// Stats reads the kernel's packet, drop and queue-freeze counters for this
// socket; after Close it returns the counters as they were at Close.
func (s *LiveSource) Stats() (LiveStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.final, nil
	}
	return s.kernelStats()
}

// kernelStats reads the socket's counters from the kernel; s.mu is held.
func (s *LiveSource) kernelStats() (LiveStats, error) {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("capture: socket stats on %s: %w", s.iface, err)
	}
	st := s.counts.add([3]uint32{uint32(v3.Packets()), uint32(v3.Drops()), uint32(v3.QueueFreezes())})
	st.Packets -= s.base.Packets
	st.Drops -= s.base.Drops
	st.QueueFreezes -= s.base.QueueFreezes
	st.Early = s.early
	st.LinkDowns = s.downs
	return st, nil
}

var _ Source = (*LiveSource)(nil)

// ErrIdle is returned by a live source's Next when no packet arrived within
// the poll timeout, so that a caller holding a partial batch can hand it on
// instead of sitting on it. Call Next again.
var ErrIdle = errors.New("capture: no packet within the poll timeout")

// CompileFilter turns a filter string into a socket filter program for an
// Ethernet socket. An empty expression gives the one-instruction program
// "accept snaplen bytes", which applies a configured snap length in the
// kernel and replaces OpenLive's drop-all filter (nil, for snaplen <= 0,
// which LiveConfig does not allow, would detach it instead). Every
// accepting return of the program is capped at snaplen.
func CompileFilter(expr string, snaplen int) ([]bpf.RawInstruction, error) {
	expr = strings.TrimSpace(expr)
	var prog []bpf.RawInstruction
	switch {
	case expr == "":
		if snaplen <= 0 {
			return nil, nil
		}
		prog = []bpf.RawInstruction{{Op: 0x06, K: uint32(snaplen)}} // ret #snaplen
	case IsRawBPF(expr):
		var err error
		if prog, err = parseRawBPF(expr); err != nil {
			return nil, fmt.Errorf("capture: filter %q: %w", expr, err)
		}
	default:
		var err error
		if prog, err = compileExpr(expr); err != nil {
			return nil, fmt.Errorf("capture: filter %q: %w; the built-in compiler knows a subset of tcpdump syntax: "+
				"pass raw BPF instead, as printed by `tcpdump -ddd '%s'` (e.g. --filter \"$(tcpdump -ddd '%s' | tr '\\n' ',')\")",
				expr, err, expr, expr)
		}
	}
	if snaplen > 0 {
		for i := range prog {
			if prog[i].Op == 0x06 && prog[i].K > uint32(snaplen) { // BPF_RET|BPF_K
				prog[i].K = uint32(snaplen)
			}
		}
	}
	return prog, nil
}

// IsRawBPF reports whether a filter string is a raw BPF program (`tcpdump
// -ddd` output) rather than an expression: raw programs are compiled by the
// user for a link type and run as given.
func IsRawBPF(expr string) bool {
	expr = strings.TrimSpace(expr)
	return expr != "" && expr[0] >= '0' && expr[0] <= '9'
}

func compileExpr(expr string) (prog []bpf.RawInstruction, err error) {
	// The compiler panics on some malformed input; a bad flag must not
	// crash the sensor.
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("compiler failed: %v", r)
		}
	}()
	if err := checkFilterGrammar(expr); err != nil {
		return nil, err
	}
	// Every word checkFilterGrammar lets through is a keyword, an IPv4
	// address, a CIDR or a number: lower case is the compiler's spelling.
	e := filter.NewExpression(strings.ToLower(expr))
	if e == nil {
		return nil, errors.New("empty expression")
	}
	f := e.Compile()
	if f == nil {
		return nil, errors.New("could not parse expression")
	}
	ins, err := f.Compile()
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, errors.New("compiled to an empty program")
	}
	prog, err = bpf.Assemble(ins)
	if err != nil {
		return nil, err
	}
	if err := checkJumps(prog); err != nil {
		return nil, fmt.Errorf("compiler produced an invalid program: %w", err)
	}
	return prog, nil
}

// filterWords are the tcpdump primitives the go-pcap compiler was checked
// to translate faithfully (TestCompileFilterSemantics runs each against
// frames). It silently drops what it does not understand (`tcp[13] & 2 !=
// 0`, `vlan`, `!tcp`, `portrange` all compile to something else; `icmp`
// matches everything and `tcp and not port 22` lets UDP through, measured
// with go-pcap 8c87ecf5dbc5), so anything outside this list is refused
// rather than filtered wrongly, and so are IPv6 addresses and words that
// do not form an expression (filterGrammar).
var filterWords = map[string]bool{
	"tcp": true, "udp": true, "host": true, "net": true, "port": true,
	"src": true, "dst": true, "and": true, "or": true,
}

func checkFilterGrammar(expr string) error {
	spaced := strings.NewReplacer("(", " ( ", ")", " ) ").Replace(expr)
	g := filterGrammar{toks: strings.Fields(spaced)}
	// The compiler also takes what is not an expression ("tcp port",
	// "port", "tcp and", "(tcp") and makes some program of it, one that
	// drops everything or keeps too much: the words must form one.
	if _, err := g.expr(); err != nil {
		return err
	}
	if g.i < len(g.toks) {
		return g.want("and/or")
	}
	return nil
}

// filterGrammar checks the subset of tcpdump syntax the built-in
// compiler translates faithfully:
//
//	expr      = term { joiner term }   one joiner ("and" or "or") per level,
//	                                   and a parenthesised term only last
//	term      = "(" expr ")" | primitive
//	primitive = ("tcp" | "udp") [["src" | "dst"] "port" number] | qualified
//	qualified = ["src" | "dst"] ("host" IPv4 | "net" IPv4-prefix | "port" number)
//
// and, in an "and" chain (counting the terms of and-groups in it), no lone
// "tcp"/"udp" together with a "host" or "net" without "src"/"dst".
//
// go-pcap 8c87ecf5dbc5 builds its tree otherwise than tcpdump reads the
// words (TestCompileFilterDifferential, against a reference that agreed
// with libpcap 1.10.3, TestFilterReferenceVsTcpdump; measured in the BPF VM):
// a "(" opens a group that runs to the end of the string, so whatever
// follows the ")" lands inside it; a level takes the last joiner it meets,
// so "tcp and port 80 or udp" became "tcp or port 80 or udp"; and an and
// chain merges a lone protocol into an undirected host or net, so "tcp and
// host X" kept UDP and ICMP of X. An IPv6 address is read as host and port.
type filterGrammar struct {
	toks []string
	i    int
}

// filterTerms says what an and chain holds: a lone protocol and an
// undirected address together lose the protocol.
type filterTerms uint8

const (
	termProto filterTerms = 1 << iota // "tcp" or "udp" alone
	termAddr                          // "host" or "net" without src/dst
)

func (g *filterGrammar) peek() string {
	if g.i < len(g.toks) {
		return strings.ToLower(g.toks[g.i])
	}
	return ""
}

// want names what is missing at the current token, or the token itself
// when the compiler does not know it at all.
func (g *filterGrammar) want(what string) error {
	if g.i < len(g.toks) {
		if w := g.peek(); !filterWords[w] && w != "(" && w != ")" && !isFilterValue(w) {
			return fmt.Errorf("%q is not supported by the built-in compiler (it knows tcp, udp, host, net, port, src, dst, and, or, parentheses, IPv4 addresses and port numbers)", g.toks[g.i])
		}
		return fmt.Errorf("%s expected at %q", what, g.toks[g.i])
	}
	if g.i > 0 {
		return fmt.Errorf("%s expected after %q at the end", what, g.toks[g.i-1])
	}
	return fmt.Errorf("%s expected", what)
}

// isFilterValue reports a word that is an address, a prefix or a number:
// a value, even one out of range ("port 0"), rather than an unknown word.
func isFilterValue(w string) bool {
	if _, err := netip.ParseAddr(w); err == nil {
		return true
	}
	if _, err := netip.ParsePrefix(w); err == nil {
		return true
	}
	return w != "" && strings.Trim(w, "0123456789") == ""
}

// expr checks one level and returns what it holds for an enclosing and
// chain: its terms' when it is one term or an and chain, none for an or.
func (g *filterGrammar) expr() (filterTerms, error) {
	var joiner string
	var held filterTerms
	for {
		group := g.peek() == "("
		terms, err := g.term()
		if err != nil {
			return 0, err
		}
		held |= terms
		j := g.peek()
		if j != "and" && j != "or" {
			break
		}
		if group {
			return 0, fmt.Errorf(`%q after a parenthesised group: the built-in compiler reads what follows a group into it; put the group last ("tcp and (port 80 or port 443)")`, g.toks[g.i])
		}
		if joiner != "" && j != joiner {
			return 0, fmt.Errorf(`%q after %q at one level: the built-in compiler gives the whole level the last joiner ("tcp and port 80 or udp" becomes "tcp or port 80 or udp"); use parentheses, the group last ("udp or (tcp and port 80)")`, g.toks[g.i], joiner)
		}
		joiner = j
		g.i++
	}
	if joiner == "or" {
		return 0, nil
	}
	if held == termProto|termAddr {
		return 0, errors.New(`a lone "tcp"/"udp" and-ed with "host" or "net" loses the protocol in the built-in compiler; give the address a direction ("tcp and (src host X or dst host X)")`)
	}
	return held, nil
}

// term checks one term.
func (g *filterGrammar) term() (terms filterTerms, err error) {
	if g.peek() == "(" {
		g.i++
		if terms, err = g.expr(); err != nil {
			return 0, err
		}
		if g.peek() != ")" {
			return 0, g.want(`")"`)
		}
		g.i++
		return terms, nil
	}
	what := "a primitive (tcp, udp, host, net, port, or a parenthesis)"
	proto := false
	if w := g.peek(); w == "tcp" || w == "udp" {
		g.i++
		switch g.peek() {
		case "src", "dst", "host", "net", "port":
		default:
			return termProto, nil // the protocol alone
		}
		proto, what = true, "port"
	}
	directed := false
	if w := g.peek(); w == "src" || w == "dst" {
		g.i++
		directed = true
		if !proto {
			what = "host, net or port"
		}
	}
	kind := g.peek()
	if kind != "port" && (proto || kind != "host" && kind != "net") {
		return 0, g.want(what)
	}
	g.i++
	var v string
	if g.i < len(g.toks) {
		v = g.toks[g.i]
	}
	ok := false
	switch kind {
	case "host":
		a, err := netip.ParseAddr(v)
		ok = err == nil && a.Is4()
	case "net":
		p, err := netip.ParsePrefix(v)
		ok = err == nil && p.Addr().Is4()
	case "port":
		n, err := strconv.ParseUint(v, 10, 16)
		ok = err == nil && n > 0
	}
	if !ok {
		return 0, g.want(map[string]string{"host": "an IPv4 address", "net": "an IPv4 prefix (10.0.0.0/8)", "port": "a port number"}[kind])
	}
	g.i++
	if kind != "port" && !directed {
		return termAddr, nil
	}
	return 0, nil
}

// checkJumps verifies every conditional jump lands inside the program,
// which the kernel would otherwise refuse with a bare EINVAL.
func checkJumps(prog []bpf.RawInstruction) error {
	n := len(prog)
	for i, in := range prog {
		if in.Op&7 != 5 { // BPF_JMP class
			continue
		}
		if in.Op == 0x05 { // ja: k is the offset
			if int(in.K) >= n-i-1 {
				return fmt.Errorf("instruction %d jumps past the end", i+1)
			}
			continue
		}
		if int(in.Jt) >= n-i-1 || int(in.Jf) >= n-i-1 {
			return fmt.Errorf("instruction %d jumps past the end", i+1)
		}
	}
	if n == 0 || prog[n-1].Op&7 != 6 { // BPF_RET
		return errors.New("program does not end in a return")
	}
	return nil
}

// parseRawBPF reads `tcpdump -ddd` output: the instruction count, then one
// "code jt jf k" instruction per line (commas also separate instructions).
func parseRawBPF(s string) ([]bpf.RawInstruction, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' || r == ';' })
	if len(fields) == 0 {
		return nil, errors.New("raw BPF: empty")
	}
	n, err := strconv.Atoi(strings.TrimSpace(fields[0]))
	if err != nil {
		return nil, fmt.Errorf("raw BPF: first line must be the instruction count: %w", err)
	}
	lines := fields[1:]
	if n <= 0 || n > 4096 /* BPF_MAXINSNS */ || n != len(lines) {
		return nil, fmt.Errorf("raw BPF: count says %d instructions, found %d", n, len(lines))
	}
	prog := make([]bpf.RawInstruction, n)
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 {
			return nil, fmt.Errorf("raw BPF: instruction %d %q: want \"code jt jf k\"", i+1, l)
		}
		var v [4]uint64
		for j, x := range f {
			if v[j], err = strconv.ParseUint(x, 10, 32); err != nil {
				return nil, fmt.Errorf("raw BPF: instruction %d %q: %w", i+1, l, err)
			}
		}
		if v[0] > 0xffff || v[1] > 0xff || v[2] > 0xff {
			return nil, fmt.Errorf("raw BPF: instruction %d %q: field out of range", i+1, l)
		}
		prog[i] = bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
	}
	if err := checkJumps(prog); err != nil {
		return nil, fmt.Errorf("raw BPF: %w", err)
	}
	return prog, nil
}
