package gen

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// APIConfig shapes the keep-alive JSON API capture.
type APIConfig struct {
	Config
	// Packets is the target frame count: no transaction starts once it is
	// reached, then every open connection finishes its exchange and closes
	// with FINs, so the capture holds Packets plus a few frames per client
	// (500192 for 500000 with 64 clients).
	Packets int64
	// Clients is the number of concurrent client connections.
	Clients int
	// Servers is the number of API servers (hosts) the clients talk to.
	Servers int
	// Subjects is the number of distinct JWT subjects.
	Subjects int
	// MeanThink is the mean idle time between two requests on a connection.
	MeanThink time.Duration
	// ConnRequests bounds the requests a connection carries before it closes
	// and its client reconnects (uniform in [Min, Max]).
	ConnRequestsMin, ConnRequestsMax int
}

// DefaultAPIConfig is 500k packets over 64 connections, 4 servers and 30
// subjects: the benchmark capture.
func DefaultAPIConfig() APIConfig {
	return APIConfig{
		Config: DefaultConfig(), Packets: 500_000, Clients: 64, Servers: 4, Subjects: 30,
		MeanThink: 40 * time.Millisecond, ConnRequestsMin: 50, ConnRequestsMax: 600,
	}
}

// Validate checks the API options.
func (c *APIConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	switch {
	case c.Packets < 1:
		return errors.New("gen: api: Packets must be positive")
	case c.Clients < 1 || c.Clients > 60000:
		return fmt.Errorf("gen: api: Clients %d out of range 1-60000", c.Clients)
	case c.Servers < 1 || c.Servers > 250:
		return fmt.Errorf("gen: api: Servers %d out of range 1-250", c.Servers)
	case c.Subjects < 1:
		return errors.New("gen: api: Subjects must be positive")
	case c.MeanThink <= 0:
		return errors.New("gen: api: MeanThink must be positive")
	case c.ConnRequestsMin < 1 || c.ConnRequestsMax < c.ConnRequestsMin:
		return fmt.Errorf("gen: api: ConnRequests range [%d, %d] is empty", c.ConnRequestsMin, c.ConnRequestsMax)
	}
	return nil
}

// API writes realistic keep-alive HTTP/1.1 JSON API traffic to w as a pcap:
// cfg.Clients concurrent connections from distinct client ip:ports to
// cfg.Servers servers, full handshakes, JWT bearer auth, REST paths, ~10%
// chunked and ~10% multi-segment responses, delayed and every-second-segment
// ACKs, connections closing and reopening, all closed with FINs at the end.
// It streams: memory does not grow with cfg.Packets.
func API(w io.Writer, cfg APIConfig) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	e, err := newEngine(w, &cfg.Config)
	if err != nil {
		return Summary{}, fmt.Errorf("api: %w", err)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0xa91))
	epoch := cfg.epoch()

	a := &apiGen{cfg: &cfg, e: e, epoch: epoch}
	for i := range cfg.Servers {
		a.servers = append(a.servers, apiServer{
			addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(10 + i)}), []uint16{80, 8080}[i%2]),
			host: []string{"api", "orders", "catalog", "search", "billing", "accounts"}[i%6] + suffix(i/6) + ".example.com",
		})
	}
	for i := range cfg.Subjects {
		sub := fmt.Sprintf("user-%04d", i+1)
		a.subjects = append(a.subjects, sub)
		a.tokens = append(a.tokens, jwtFor(r, "RS256", sub, epoch.Add(-time.Duration(r.IntN(3000))*time.Second)))
	}
	// About two connections per client address, as browsers and SDK pools do.
	nIPs := (cfg.Clients + 1) / 2
	a.nextPort = make([]uint16, nIPs)
	for i := range a.nextPort {
		a.nextPort[i] = uint16(32768 + r.IntN(20000))
	}
	for i := range cfg.Clients {
		ip := i % nIPs
		sl := &apiSlot{a: a, ip: ip, addr: netip.AddrFrom4([4]byte{10, 1, byte(ip / 250), byte(1 + ip%250)}),
			subject: i % cfg.Subjects, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))}
		// Stagger the first SYNs over the first 100ms.
		c := e.newConn(sl, int64(r.IntN(100_000))*usec)
		e.start(c)
	}
	if err := e.run(); err != nil {
		return e.summary(), fmt.Errorf("api: %w", err)
	}
	return e.summary(), nil
}

func suffix(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n + 1)
}

type apiServer struct {
	addr netip.AddrPort
	host string
}

type apiGen struct {
	cfg      *APIConfig
	e        *engine
	epoch    time.Time
	servers  []apiServer
	subjects []string
	tokens   []string
	nextPort []uint16
	reqID    uint64
}

// apiSlot is one client connection slot: it connects, runs a run of
// requests, closes and reconnects from a new ephemeral port.
type apiSlot struct {
	a        *apiGen
	ip       int
	addr     netip.Addr
	subject  int
	rng      *rand.Rand
	open     bool
	done     bool
	left     int   // requests before this connection closes
	next     int64 // idle time before the next request, drawn when the last one ended
	pending  int64 // part of next already spent (the delayed ACK)
	server   apiServer
	scratch  []byte
	scratch2 []byte
}

func (s *apiSlot) budgetLeft() bool { return s.a.e.planned() < s.a.cfg.Packets }

func (s *apiSlot) think() int64 {
	return int64(s.rng.ExpFloat64() * float64(s.a.cfg.MeanThink))
}

// gap is the wait before the next event on an open connection.
func (s *apiSlot) gap() int64 { return max(s.next-s.pending, segGap) }

func (s *apiSlot) refill(c *conn) bool {
	if s.done {
		return false
	}
	a := s.a
	if !s.budgetLeft() {
		s.done = true
		if s.open {
			c.fin(s.gap(), s.rng.IntN(2) == 0)
			return true
		}
		return false
	}
	if !s.open {
		port := a.nextPort[s.ip]
		a.nextPort[s.ip]++
		if a.nextPort[s.ip] < 1024 {
			a.nextPort[s.ip] = 32768
		}
		s.server = a.servers[s.rng.IntN(len(a.servers))]
		c.open(netip.AddrPortFrom(s.addr, port), s.server.addr, s.rng)
		c.handshake(s.think())
		s.open = true
		s.left = a.cfg.ConnRequestsMin + s.rng.IntN(a.cfg.ConnRequestsMax-a.cfg.ConnRequestsMin+1)
		s.pending = 0
		s.transaction(c, rtt/2)
		return true
	}
	if s.left == 0 {
		// Keep-alive timeout on the server or the client pool recycling.
		c.fin(s.gap(), s.rng.IntN(3) == 0)
		s.open = false
		return true
	}
	s.transaction(c, s.gap())
	return true
}

// transaction queues one request/response exchange starting dt after the
// connection's last segment.
func (s *apiSlot) transaction(c *conn, dt int64) {
	a, r := s.a, s.rng
	s.left--
	a.reqID++
	method, uri, status := "GET", "", 200
	var reqBody []byte
	respSize, list := 100+r.IntN(400), 0
	auth := true
	ifNoneMatch := false
	switch p := r.IntN(100); {
	case p < 33:
		uri = "/api/v1/users/" + strconv.Itoa(1+r.IntN(50000))
		if q := r.IntN(100); q < 5 {
			status = 404
		} else if q < 10 {
			status, ifNoneMatch = 304, true
		}
	case p < 52:
		uri = "/api/v1/orders/" + uuid4(r)
		if r.IntN(100) < 4 {
			status = 404
		}
	case p < 66:
		uri = "/api/v1/products/" + words[r.IntN(len(words))] + "-" + words[r.IntN(len(words))] + "-" + strconv.Itoa(r.IntN(100))
		auth = r.IntN(2) == 0 // the public catalog is browsed anonymously too
		if r.IntN(100) < 8 {
			status, ifNoneMatch = 304, true
		}
	case p < 76:
		uri = "/api/v1/search?q=" + words[r.IntN(len(words))] + "+" + words[r.IntN(len(words))] +
			"&page=" + strconv.Itoa(1+r.IntN(5)) + "&limit=20"
		list = 2 + r.IntN(10)
	case p < 84:
		method, uri, status = "POST", "/api/v1/orders", 201
		reqBody = jsonBody(s.scratch2[:0], r, 80+r.IntN(300),
			`"product":"`+words[r.IntN(len(words))]+`"`, `"quantity":`+strconv.Itoa(1+r.IntN(5)))
	case p < 89:
		method, uri = "PUT", "/api/v1/users/"+strconv.Itoa(1+r.IntN(50000))
		reqBody = jsonBody(s.scratch2[:0], r, 60+r.IntN(200), `"name":"`+words[r.IntN(len(words))]+`"`)
	case p < 93:
		method, uri, status = "DELETE", "/api/v1/orders/"+uuid4(r), 204
	default:
		uri = "/api/v1/users/" + strconv.Itoa(1+r.IntN(50000)) + "/orders?status=open"
		list = 1 + r.IntN(6)
	}
	s.scratch2 = reqBody

	principal := "ip:" + c.cli.Addr().String()
	hdrs := make([]string, 0, 4)
	if auth {
		hdrs = append(hdrs, "Authorization: Bearer "+a.tokens[s.subject])
		principal = "jwt:" + a.subjects[s.subject]
	}
	if ifNoneMatch {
		hdrs = append(hdrs, `If-None-Match: "`+strconv.FormatUint(a.reqID*2654435761%1e9, 16)+`"`)
	}
	if reqBody != nil {
		hdrs = append(hdrs, "Content-Type: application/json", "Content-Length: "+strconv.Itoa(len(reqBody)))
	}
	req := reqHead(s.scratch[:0], method, uri, s.server.host, "shop-app/4.2 (okhttp/4.12.0)", hdrs...)
	s.scratch = req

	var body []byte
	switch {
	case status == 204 || status == 304:
	case status == 404:
		body = []byte(`{"error":"not_found","message":"resource does not exist","request_id":"` + strconv.FormatUint(a.reqID, 16) + `"}`)
	case list > 0:
		body = jsonList(make([]byte, 0, list*360+48), r, list, 150+r.IntN(200))
	default:
		lead := `"id":` + strconv.Itoa(1+r.IntN(50000))
		if method == "POST" {
			lead = `"id":"` + uuid4(r) + `"`
		}
		body = jsonBody(make([]byte, 0, respSize+32), r, respSize, lead)
	}
	chunked := body != nil && r.IntN(100) < 11

	tx := Transaction{Method: method, Host: s.server.host, URI: uri, Status: uint16(status),
		ReqBodyBytes: int64(len(reqBody)), RespBodyBytes: int64(len(body)), Principal: principal, Chunked: chunked}

	// Server think time: mostly a few ms, sometimes past the delayed-ACK timer.
	svc := int64(500+r.IntN(4000)) * usec
	if r.IntN(100) < 3 {
		svc = int64(45+r.IntN(200)) * msec
	}
	ts := a.epoch.Add(time.Duration(c.clock + dt + svc))
	chunks := 0
	if chunked {
		// Mostly one chunk (a framework's chunked writer), sometimes two
		// flushed separately.
		chunks = 1 + r.IntN(4)/3
	}
	parts := responseParts(status, ts, a.reqID, body, chunks)
	// Request head and body go out in one send, cut at the MSS.
	c.exchange(dt, tx, append(req, reqBody...), svc, parts)

	// The client's delayed ACK fires unless its next request comes first.
	s.next = s.think()
	s.pending = 0
	if s.next > delayedAckDur || s.left == 0 {
		c.push(delayedAckDur, false, flagACK, nil)
		s.pending = delayedAckDur
	}
}
