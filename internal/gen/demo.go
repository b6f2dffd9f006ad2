package gen

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// DemoHost is the API host the demo capture and testdata/demo/api.yaml cover.
const DemoHost = "api.shop.example"

// DemoOtherHost is the demo's second host, which no spec covers.
const DemoOtherHost = "inventory.internal.example"

// DemoConfig shapes the README demo capture. The committed
// testdata/demo/demo.pcap is Demo(w, DefaultDemoConfig()).
type DemoConfig struct {
	Config
	// Users is the number of ordinary JWT users browsing the shop.
	Users int
	// CallsPerUser is how many requests each ordinary user makes.
	CallsPerUser int
	// Enumerate is how many consecutive /api/v2/users/{id} the enumerating
	// client walks.
	Enumerate int
}

// DefaultDemoConfig gives a capture under 300 KB with a few hundred calls.
func DefaultDemoConfig() DemoConfig {
	return DemoConfig{Config: DefaultConfig(), Users: 8, CallsPerUser: 12, Enumerate: 100}
}

// Validate checks the demo options.
func (c *DemoConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.Users < 1 || c.Users > 200 || c.CallsPerUser < 1 || c.Enumerate < 1 || c.Enumerate > 10000 {
		return fmt.Errorf("gen: demo: Users %d (1-200), CallsPerUser %d (>0), Enumerate %d (1-10000) out of range",
			c.Users, c.CallsPerUser, c.Enumerate)
	}
	return nil
}

// demoEx is one scripted request/response.
type demoEx struct {
	gap       int64 // idle time before the request
	method    string
	uri       string
	host      string
	hdrs      []string
	reqBody   []byte
	status    int
	respBody  []byte
	respHdrs  []string
	chunks    int // >0: chunked response in this many chunks
	principal string
}

// demoConn plays a fixed list of exchanges on one keep-alive connection.
type demoConn struct {
	r        *rand.Rand
	epoch    time.Time
	cli, srv netip.AddrPort
	ua       string
	ex       []demoEx
	i        int
	state    int // 0 new, 1 open, 2 closed
	start    int64
	reqID    *uint64
}

func (d *demoConn) refill(c *conn) bool {
	switch {
	case d.state == 0:
		c.open(d.cli, d.srv, d.r)
		c.clock = 0
		c.handshake(d.start)
		d.state = 1
		d.play(c, rtt/2)
		return true
	case d.state == 1 && d.i < len(d.ex):
		d.play(c, d.ex[d.i].gap)
		return true
	case d.state == 1:
		c.fin(2*time.Second.Nanoseconds(), true) // server keep-alive timeout
		d.state = 2
		return true
	}
	return false
}

func (d *demoConn) play(c *conn, dt int64) {
	x := &d.ex[d.i]
	d.i++
	*d.reqID++
	host := x.host
	if host == "" {
		host = DemoHost
	}
	hdrs := x.hdrs
	if x.reqBody != nil {
		hdrs = append(hdrs[:len(hdrs):len(hdrs)], "Content-Type: application/json", "Content-Length: "+strconv.Itoa(len(x.reqBody)))
	}
	req := append(reqHead(nil, x.method, x.uri, host, d.ua, hdrs...), x.reqBody...)
	svc := int64(800+d.r.IntN(6000)) * usec
	ts := d.epoch.Add(time.Duration(c.clock + dt + svc))
	parts := responseParts(x.status, ts, *d.reqID, x.respBody, x.chunks, x.respHdrs...)
	tx := Transaction{Method: x.method, Host: host, URI: x.uri, Status: uint16(x.status),
		ReqBodyBytes: int64(len(x.reqBody)), RespBodyBytes: int64(len(x.respBody)), Principal: x.principal, Chunked: x.chunks > 0}
	c.exchange(dt, tx, req, svc, parts)
	// The client ACKs the response when its next request is not imminent.
	if d.i == len(d.ex) || d.ex[d.i].gap > delayedAckDur {
		c.push(delayedAckDur, false, flagACK, nil)
		if d.i < len(d.ex) {
			d.ex[d.i].gap -= delayedAckDur
		}
	}
}

// Demo writes the README demo capture for api.shop.example (see
// testdata/demo/api.yaml): ordinary JWT users on documented endpoints, a
// zombie /api/v1/users/{id} (its /api/v2 twin is in the spec), calls to a
// deprecated endpoint, shadow endpoints (/internal/debug/vars,
// /api/v2/admin/export), responses carrying emails, Luhn-valid test card
// numbers and a JWT, an endpoint answering 200 with PII to requests without
// credentials, an API key in a query string, a JWT with alg "none", Basic
// auth, one client enumerating /api/v2/users/{id} sequentially, and a second
// host (DemoOtherHost) no spec covers.
func Demo(w io.Writer, cfg DemoConfig) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	e, err := newEngine(w, &cfg.Config)
	if err != nil {
		return Summary{}, fmt.Errorf("demo: %w", err)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0xde70))
	epoch := cfg.epoch()
	api := netip.MustParseAddrPort("10.20.0.10:80")
	inv := netip.MustParseAddrPort("10.20.0.30:8080")
	var reqID uint64
	port := uint16(40000)
	add := func(cli string, start time.Duration, ua string, ex []demoEx) {
		srv := api
		if len(ex) > 0 && ex[0].host == DemoOtherHost {
			srv = inv
		}
		port += 7
		d := &demoConn{r: r, epoch: epoch, cli: netip.AddrPortFrom(netip.MustParseAddr(cli), port), srv: srv,
			ua: ua, ex: ex, start: start.Nanoseconds(), reqID: &reqID}
		e.start(e.newConn(d, 0))
	}
	iat := epoch.Add(-10 * time.Minute)
	bearer := func(sub string) (string, string) {
		// ES256 keeps tokens (and the demo file) small; the structure is
		// what a sensor reads.
		return "Authorization: Bearer " + jwtFor(r, "ES256", sub, iat), "jwt:" + sub
	}
	gap := func(ms int) int64 { return int64(ms/2+r.IntN(ms)) * msec }

	// Ordinary users browsing documented endpoints.
	for u := range cfg.Users {
		sub := fmt.Sprintf("u-%d", 1001+u)
		h, p := bearer(sub)
		var ex []demoEx
		for range cfg.CallsPerUser {
			ex = append(ex, demoUserCall(r, u, h, p, gap(1500)))
		}
		add(fmt.Sprintf("10.20.1.%d", 10+u), time.Duration(r.IntN(2000))*time.Millisecond, "shop-web/3.1", ex)
	}

	// Legacy mobile app still on /api/v1/users/{id} (zombie: v2 replaced it).
	{
		h, p := bearer("u-1100")
		var ex []demoEx
		for i := range 6 {
			id := 1100 + i%2
			ex = append(ex, demoEx{gap: gap(3000), method: "GET", uri: "/api/v1/users/" + strconv.Itoa(id), hdrs: []string{h},
				status: 200, respBody: userJSON(r, id), principal: p})
		}
		add("10.20.2.40", 3*time.Second, "shop-android/1.9.2", ex)
	}

	// A deprecated endpoint still in use.
	{
		h, p := bearer("u-1003")
		var ex []demoEx
		for _, code := range []string{"WELCOME10", "SPRING24", "FREESHIP", "BOGUS"} {
			st, body := 200, []byte(`{"code":"`+code+`","percent_off":10,"valid_until":"2026-03-31"}`)
			if code == "BOGUS" {
				st, body = 404, []byte(`{"error":"coupon not found"}`)
			}
			ex = append(ex, demoEx{gap: gap(2000), method: "GET", uri: "/api/v2/coupons/" + code, hdrs: []string{h},
				status: st, respBody: body, principal: p})
		}
		add("10.20.1.13", 5*time.Second, "shop-web/3.1", ex)
	}

	// Shadow endpoints: a debug page and an undocumented admin export behind
	// Basic auth.
	add("10.20.5.5", 4*time.Second, "curl/8.5.0", []demoEx{
		{gap: 0, method: "GET", uri: "/internal/debug/vars", status: 200, principal: "ip:10.20.5.5",
			respBody: []byte(`{"cmdline":["/app/shop-api","-config","/etc/shop/config.yaml"],"memstats":{"Alloc":48213344,"HeapInuse":61235200,"NumGC":1841},"goroutines":212,"db_dsn":"postgres://shop@db.internal:5432/shop"}`)},
		{gap: gap(4000), method: "GET", uri: "/internal/debug/vars", status: 200, principal: "ip:10.20.5.5",
			respBody: []byte(`{"cmdline":["/app/shop-api"],"memstats":{"Alloc":48993280,"HeapInuse":61997056,"NumGC":1843},"goroutines":219}`)},
	})
	add("10.20.5.6", 6*time.Second, "python-requests/2.31.0", []demoEx{
		{gap: 0, method: "GET", uri: "/api/v2/admin/export?format=json&since=2026-01-01", principal: "basic:ops-admin",
			hdrs:   []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ops-admin:Winter2026!"))},
			status: 200, chunks: 3, respBody: exportJSON(r, 12)},
	})

	// Unauthenticated access answered with PII.
	{
		var ex []demoEx
		for range 5 {
			id := 5000 + r.IntN(4000)
			ex = append(ex, demoEx{gap: gap(800), method: "GET", uri: "/api/v2/customers/" + strconv.Itoa(id) + "/profile",
				status: 200, respBody: profileJSON(r, id), principal: "ip:203.0.113.77"})
		}
		add("203.0.113.77", 7*time.Second, "Mozilla/5.0 (X11; Linux x86_64)", ex)
	}

	// Partner feed with an API key in the query string. Sensors derive
	// "apikey:<hmac8>" with their own secret, so the truth says "apikey:*".
	add("198.51.100.20", 2*time.Second, "partner-sync/2.0", []demoEx{
		{gap: 0, method: "GET", uri: "/api/v2/products/feed?api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc&page=1", principal: "apikey:*",
			status: 200, chunks: 2, respBody: productsJSON(r, 5)},
		{gap: gap(5000), method: "GET", uri: "/api/v2/products/feed?api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc&page=2", principal: "apikey:*",
			status: 200, chunks: 2, respBody: productsJSON(r, 5)},
	})

	// Login issuing a JWT in the response body; one failure first.
	add("10.20.1.60", 8*time.Second, "shop-web/3.1", []demoEx{
		{gap: 0, method: "POST", uri: "/api/v2/auth/token", reqBody: []byte(`{"username":"dana@shop.example","password":"hunter2"}`),
			status: 401, respBody: []byte(`{"error":"invalid_credentials"}`), principal: "ip:10.20.1.60"},
		{gap: gap(3000), method: "POST", uri: "/api/v2/auth/token", reqBody: []byte(`{"username":"dana@shop.example","password":"correct horse"}`),
			status: 200, respBody: []byte(`{"access_token":"` + jwtFor(r, "ES256", "u-1042", epoch) + `","token_type":"Bearer","expires_in":3600}`),
			principal: "ip:10.20.1.60"},
	})

	// A forged token with alg "none".
	{
		tok := jwtFor(r, "none", "u-0001", iat)
		var ex []demoEx
		for _, id := range []int{1, 2} {
			ex = append(ex, demoEx{gap: gap(1000), method: "GET", uri: "/api/v2/users/" + strconv.Itoa(id),
				hdrs: []string{"Authorization: Bearer " + tok}, status: 200, respBody: userJSON(r, id), principal: "jwt:u-0001"})
		}
		add("10.20.7.7", 9*time.Second, "python-requests/2.31.0", ex)
	}

	// One client walking user ids in order (enumeration / BOLA).
	{
		h, p := bearer("u-7731")
		var ex []demoEx
		for i := range cfg.Enumerate {
			id := 2001 + i
			st, body := 200, userJSON(r, id)
			if r.IntN(10) == 0 {
				st, body = 404, []byte(`{"error":"not_found"}`)
			}
			ex = append(ex, demoEx{gap: int64(40+r.IntN(40)) * msec, method: "GET", uri: "/api/v2/users/" + strconv.Itoa(id),
				hdrs: []string{h}, status: st, respBody: body, principal: p})
		}
		add("10.20.9.66", 10*time.Second, "python-httpx/0.27.0", ex)
	}

	// The second host: an internal inventory service with no spec.
	{
		var ex []demoEx
		for i := range 12 {
			x := demoEx{gap: gap(1500), host: DemoOtherHost, principal: "ip:10.20.0.10", status: 200}
			switch i % 3 {
			case 0:
				x.method, x.uri, x.respBody = "GET", "/health", []byte(`{"status":"ok"}`)
			case 1:
				sku := "SKU-" + strconv.Itoa(10000+r.IntN(90000))
				x.method, x.uri, x.respBody = "GET", "/v1/stock/"+sku, []byte(`{"sku":"`+sku+`","available":`+strconv.Itoa(r.IntN(500))+`}`)
			default:
				x.method, x.uri, x.status = "POST", "/v1/reservations", 201
				x.reqBody = []byte(`{"sku":"SKU-` + strconv.Itoa(10000+r.IntN(90000)) + `","qty":1}`)
				x.respBody = []byte(`{"reservation":"` + uuid4(r) + `"}`)
			}
			ex = append(ex, x)
		}
		// The API server calls inventory: its address is the client here.
		add("10.20.0.10", time.Second, "Go-http-client/1.1", ex)
	}

	if err := e.run(); err != nil {
		return e.summary(), fmt.Errorf("demo: %w", err)
	}
	return e.summary(), nil
}

var firstNames = []string{"ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hiro", "ines", "jonas", "kemi", "liam"}

func userJSON(r *rand.Rand, id int) []byte {
	n := firstNames[id%len(firstNames)]
	return fmt.Appendf(nil, `{"id":%d,"name":"%s %s","email":"%s.%d@mail.example","role":"customer","created_at":"2025-%02d-%02dT10:00:00Z"}`,
		id, n, words[r.IntN(len(words))], n, id, 1+r.IntN(12), 1+r.IntN(28))
}

func profileJSON(r *rand.Rand, id int) []byte {
	n := firstNames[r.IntN(len(firstNames))]
	return fmt.Appendf(nil, `{"id":%d,"email":"%s%d@mail.example","phone":"+1-555-01%02d","address":{"street":"%d Elm St","city":"Springfield","zip":"%05d"}}`,
		id, n, id, r.IntN(100), 1+r.IntN(999), r.IntN(100000))
}

func exportJSON(r *rand.Rand, n int) []byte {
	b := []byte(`{"customers":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, userJSON(r, 3000+i)...)
	}
	return append(b, "]}"...)
}

func productsJSON(r *rand.Rand, n int) []byte {
	b := []byte(`{"items":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"slug":"%s-%s","price":%d.%02d,"stock":%d}`,
			words[r.IntN(len(words))], words[r.IntN(len(words))], 5+r.IntN(200), r.IntN(100), r.IntN(300))
	}
	return append(b, "]}"...)
}

// demoUserCall is one ordinary user's call on a documented endpoint.
func demoUserCall(r *rand.Rand, u int, auth, principal string, gap int64) demoEx {
	x := demoEx{gap: gap, method: "GET", hdrs: []string{auth}, status: 200, principal: principal}
	self := 1001 + u
	switch p := r.IntN(100); {
	case p < 25:
		x.uri = "/api/v2/products?category=" + words[r.IntN(8)] + "&limit=5"
		x.respBody, x.chunks = productsJSON(r, 3+r.IntN(3)), r.IntN(2)*2
	case p < 45:
		x.uri = "/api/v2/products/" + words[r.IntN(len(words))] + "-" + words[r.IntN(len(words))]
		x.respBody = fmt.Appendf(nil, `{"slug":"%s","name":"%s","price":%d.99,"stock":%d}`, x.uri[17:], words[r.IntN(len(words))], 5+r.IntN(100), r.IntN(90))
		if r.IntN(6) == 0 {
			x.status, x.respBody = 404, []byte(`{"error":"not_found"}`)
		}
	case p < 55:
		x.uri = "/api/v2/me"
		x.respBody = userJSON(r, self)
	case p < 63:
		x.uri = "/api/v2/users/" + strconv.Itoa(self)
		x.respBody = userJSON(r, self)
	case p < 75:
		x.uri = "/api/v2/orders/" + uuid4(r)
		x.respBody = fmt.Appendf(nil, `{"id":"%s","user_id":%d,"total":%d.50,"status":"shipped"}`, x.uri[15:], self, 10+r.IntN(300))
	case p < 85:
		x.method, x.uri, x.status = "POST", "/api/v2/orders", 201
		x.reqBody = fmt.Appendf(nil, `{"items":[{"slug":"%s","qty":%d}],"payment_id":"pm_%d"}`, words[r.IntN(len(words))], 1+r.IntN(3), r.IntN(1e6))
		x.respBody = fmt.Appendf(nil, `{"id":"%s","status":"pending"}`, uuid4(r))
	case p < 93:
		x.uri = "/api/v2/payments/pm_" + strconv.Itoa(r.IntN(1e6))
		// Luhn-valid test card numbers, unmasked: a data exposure.
		card := []string{"4111111111111111", "5555555555554444", "378282246310005"}[r.IntN(3)]
		x.respBody = fmt.Appendf(nil, `{"id":"%s","card_number":"%s","exp":"12/28","holder":"%s"}`, x.uri[17:], card, firstNames[u%len(firstNames)])
	default:
		x.uri = "/api/v2/search?q=" + words[r.IntN(len(words))]
		x.respBody, x.chunks = productsJSON(r, 2+r.IntN(4)), 1
	}
	return x
}
