package gen

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// AdversarialConfig scales the three parts of the memory-bound capture; a
// zero count leaves that part out.
type AdversarialConfig struct {
	Config
	// HalfOpen connections send a SYN that is never answered; every
	// HalfOpenDataEvery-th also sends a request segment right after it (no
	// handshake completion). 0 disables the data segments.
	HalfOpen          int
	HalfOpenDataEvery int
	// StormConns connections complete a handshake, then send StormSegments
	// full segments of a request in reverse (even connections) or random
	// (odd) order, leaving every StormHoleEvery-th segment out, the first
	// one (the request head) included: the holes are never filled and no
	// request is ever complete, so the storm adds no ground truth.
	StormConns     int
	StormSegments  int
	StormHoleEvery int
	// BigBody is the Content-Length of the one response streamed in order on
	// its own connection (1 GiB by default), generated on the fly.
	BigBody int64
}

// DefaultAdversarialConfig is the full-size memory-bound capture: 100k
// half-open connections, 2000 storm connections of 32 segments, one 1 GiB
// response.
func DefaultAdversarialConfig() AdversarialConfig {
	return AdversarialConfig{Config: DefaultConfig(), HalfOpen: 100_000, HalfOpenDataEvery: 2,
		StormConns: 2000, StormSegments: 32, StormHoleEvery: 4, BigBody: 1 << 30}
}

// Validate checks the adversarial options.
func (c *AdversarialConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	switch {
	case c.HalfOpen < 0 || c.HalfOpen > 16_000_000:
		// 16M: the client address space used (172.16.0.0/12) times ports.
		return fmt.Errorf("gen: adversarial: HalfOpen %d out of range 0-16000000", c.HalfOpen)
	case c.HalfOpenDataEvery < 0:
		return errors.New("gen: adversarial: HalfOpenDataEvery must not be negative")
	case c.StormConns < 0 || c.StormConns > 60000:
		return fmt.Errorf("gen: adversarial: StormConns %d out of range 0-60000", c.StormConns)
	case c.StormConns > 0 && (c.StormSegments < 2 || c.StormHoleEvery < 2):
		return errors.New("gen: adversarial: a storm needs StormSegments >= 2 and StormHoleEvery >= 2")
	case c.BigBody < 0:
		return errors.New("gen: adversarial: BigBody must not be negative")
	}
	return nil
}

// Adversarial server addresses: one per part, so a test can tell them apart.
var (
	advHalfOpenSrv = netip.MustParseAddrPort("10.9.0.1:80")
	advStormSrv    = netip.MustParseAddrPort("10.9.0.2:80")
	advBigSrv      = netip.MustParseAddrPort("10.9.0.3:80")
	advBigCli      = netip.MustParseAddrPort("10.8.0.1:50000")
)

const advHost = "files.example.com"

// Adversarial writes the memory-bound capture: half-open connections, an
// out-of-order storm with holes never filled, and one connection carrying a
// cfg.BigBody response in order, all interleaved in time. The big body is
// produced segment by segment from a fixed pattern, so generating 1 GiB holds
// a few hundred KB. Ground truth: the big transaction and one status-0
// transaction per half-open data segment (a request no one answered).
func Adversarial(w io.Writer, cfg AdversarialConfig) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	e, err := newEngine(w, &cfg.Config)
	if err != nil {
		return Summary{}, fmt.Errorf("adversarial: %w", err)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0xadf))
	if cfg.HalfOpen > 0 {
		e.start(e.newConn(&halfOpenGen{cfg: &cfg, r: rand.New(rand.NewPCG(cfg.Seed, 1))}, 0))
	}
	if cfg.StormConns > 0 {
		e.start(e.newConn(&stormGen{cfg: &cfg, r: rand.New(rand.NewPCG(cfg.Seed, 2))}, 0))
	}
	if cfg.BigBody > 0 {
		e.start(e.newConn(&bigGen{cfg: &cfg, r: r, epoch: cfg.epoch()}, 0))
	}
	if err := e.run(); err != nil {
		return e.summary(), fmt.Errorf("adversarial: %w", err)
	}
	return e.summary(), nil
}

// advClient is the i-th distinct client ip:port of a part: addresses in
// 172.16.0.0/12 (part 0) or 172.24.0.0/13 (part 1), 100 ports each.
func advClient(part, i int) netip.AddrPort {
	host := i / 100
	ip := netip.AddrFrom4([4]byte{172, byte(16 + part*8 + host>>16&7), byte(host >> 8), byte(host)})
	return netip.AddrPortFrom(ip, uint16(20000+i%100))
}

// halfOpenGen plays one half-open connection per refill, 10µs apart (a
// SYN flood at 100k/s).
type halfOpenGen struct {
	cfg *AdversarialConfig
	r   *rand.Rand
	i   int
}

func (h *halfOpenGen) refill(c *conn) bool {
	if h.i == h.cfg.HalfOpen {
		return false
	}
	cli := advClient(0, h.i)
	h.i++
	c.open(cli, advHalfOpenSrv, h.r)
	c.push(10*usec, false, flagSYN, nil)
	if h.cfg.HalfOpenDataEvery > 0 && h.i%h.cfg.HalfOpenDataEvery == 0 {
		uri := "/api/v1/items?page=" + strconv.Itoa(h.i)
		c.addTx(Transaction{Method: "GET", Host: advHost, URI: uri, Principal: "ip:" + cli.Addr().String()})
		// The sender skips the handshake: the segment follows the SYN at
		// ISN+1 but acknowledges nothing.
		s := c.push(segGap, false, flagPSH, reqHead(nil, "GET", uri, advHost, "flood/1.0"))
		s.txStart = true
	}
	return true
}

// stormGen plays one storm connection per refill, 500µs apart.
type stormGen struct {
	cfg  *AdversarialConfig
	r    *rand.Rand
	i    int
	perm []int
}

func (s *stormGen) refill(c *conn) bool {
	if s.i == s.cfg.StormConns {
		return false
	}
	cfg := s.cfg
	c.open(advClient(1, s.i), advStormSrv, s.r)
	c.handshake(500 * usec)
	// The request: a head then a body, cut into full segments. Sequence
	// numbers are laid out in order first, then the segments are queued in
	// the storm's order.
	body := cfg.StormSegments*mss - 200
	head := []byte("POST /api/v1/upload HTTP/1.1\r\nHost: " + advHost + "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + strconv.Itoa(body) + "\r\n\r\n")
	msg := make([]byte, 0, len(head)+body)
	msg = append(msg, head...)
	for len(msg) < cap(msg) {
		msg = append(msg, pattern[:min(cap(msg)-len(msg), patternPeriod)]...)
	}
	base := c.cseq
	s.perm = s.perm[:0]
	for k := 0; k*mss < len(msg); k++ {
		if k%cfg.StormHoleEvery != 0 { // segment 0, the head, is always a hole
			s.perm = append(s.perm, k)
		}
	}
	if s.i%2 == 0 {
		slices.Reverse(s.perm)
	} else {
		s.r.Shuffle(len(s.perm), func(a, b int) { s.perm[a], s.perm[b] = s.perm[b], s.perm[a] })
	}
	for _, k := range s.perm {
		end := min((k+1)*mss, len(msg))
		c.cseq = base + uint32(k*mss)
		c.push(segGap, false, flagACK, msg[k*mss:end])
	}
	c.cseq = base + uint32(len(msg))
	s.i++
	return true
}

// bigGen streams one response of cfg.BigBody bytes.
type bigGen struct {
	cfg   *AdversarialConfig
	r     *rand.Rand
	epoch time.Time
	state int
	sent  int64
}

// bigBatch is how many body segments are queued per refill: enough to
// amortize the refill, small enough to keep memory flat.
const bigBatch = 256

func (b *bigGen) refill(c *conn) bool {
	switch b.state {
	case 0:
		c.open(advBigCli, advBigSrv, b.r)
		c.handshake(100 * usec)
		uri := "/downloads/dataset-" + strconv.FormatInt(b.cfg.BigBody, 10) + ".bin"
		req := reqHead(nil, "GET", uri, advHost, "curl/8.5.0")
		head := respHead(nil, 200, b.epoch.Add(time.Duration(c.clock+rtt)), -2, 1,
			"Content-Type: application/octet-stream", "Content-Length: "+strconv.FormatInt(b.cfg.BigBody, 10))
		segs := int((b.cfg.BigBody+mss-1)/mss) + 1
		c.addTx(Transaction{Method: "GET", Host: advHost, URI: uri, Status: 200, RespBodyBytes: b.cfg.BigBody,
			Principal: "ip:" + advBigCli.Addr().String(), RespSegments: segs})
		c.request(rtt/2, req)
		c.sendParts(rtt, true, head)
		b.state = 1
		return true
	case 1:
		b.sent += c.sendBody(true, b.sent, b.cfg.BigBody-b.sent, bigBatch)
		if b.sent == b.cfg.BigBody {
			b.state = 2
		}
		return true
	case 2:
		c.push(delayedAckDur, false, flagACK, nil)
		c.fin(time.Second.Nanoseconds(), false)
		b.state = 3
		return true
	}
	return false
}
