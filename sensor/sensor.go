package sensor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/capture/reassembly"
	"github.com/apisensor/apisensor/discovery"
	"github.com/apisensor/apisensor/model"
	"github.com/apisensor/apisensor/parser"
)

// Sink receives the run's output: calls as they are produced, the rest once
// at the end. Declared here, implemented by storage. A Call is valid only
// during WriteCall (and WriteEncoded): the sensor then hands its memory
// back to the parser (its strings too when discovery is off), so a sink
// that keeps calls keeps model.Call.Clone copies. Without discovery the
// calls carry no body bytes (Body.Data is nil; the counts and flags are
// the same).
type Sink interface {
	WriteCall(c *model.Call) error
	Finish(endpoints []model.Endpoint, findings []model.Finding, openapi []byte) error
}

// EncodingSink is a Sink whose call lines the workers can encode in
// parallel: EncodeCall must be safe to call from several goroutines at
// once, and WriteEncoded (output goroutine only, in order) writes a line
// EncodeCall made, completing what discovery set on the call since
// (storage.Files splices in the template).
type EncodingSink interface {
	Sink
	EncodeCall(dst []byte, c *model.Call) []byte
	WriteEncoded(c *model.Call, line []byte) error
}

// Sensor runs one pipeline.
type Sensor struct {
	cfg Config
	log *zap.Logger

	packets atomic.Uint64
	bytes   atomic.Uint64
	calls   atomic.Uint64
	// filtered counts packets a file-mode --filter dropped.
	filtered atomic.Uint64
	// fileDone and fileTotal are the file reader's progress, published by
	// the reader goroutine (FileSource is not safe for concurrent use).
	fileDone, fileTotal atomic.Int64
	liveMu              sync.Mutex
	live                []*capture.LiveSource // for Progress; nil in file mode
	ready               chan struct{}         // closed by Run once its sources are open
	readyOnce           sync.Once
}

// New checks cfg; sources are opened by Run.
func New(cfg Config, log *zap.Logger) (*Sensor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Sensor{cfg: cfg, log: log, ready: make(chan struct{})}, nil
}

// Ready is closed once Run has opened its sources: in live mode, once every
// socket is bound, in its fanout group and filtering, so that traffic sent
// from then on is captured. It stays open if Run fails before that.
func (s *Sensor) Ready() <-chan struct{} { return s.ready }

// Progress is a snapshot for a progress line; safe to call from any goroutine.
type Progress struct {
	Packets, Bytes, Calls uint64
	FileDone, FileTotal   int64  // input bytes consumed / total (0 when unknown)
	KernelDrops           uint64 // live capture: packets the kernel dropped (ring full)
	KernelFreezes         uint64 // live capture: TPACKET_V3 queue freezes
	LinkDowns             uint64 // live capture: times the interface went down (every socket sees each)
}

// Live reports whether the sensor captures from an interface.
func (s *Sensor) Live() bool { return s.cfg.Live != nil }

// Progress reads the live counters. Each reader publishes its packet and
// byte counts every progressEvery packets, whenever its input pauses, and
// on live input every liveHandOn of packet time.
func (s *Sensor) Progress() Progress {
	p := Progress{Packets: s.packets.Load(), Bytes: s.bytes.Load(), Calls: s.calls.Load()}
	p.FileDone, p.FileTotal = s.fileDone.Load(), s.fileTotal.Load()
	s.liveMu.Lock()
	for _, l := range s.live {
		if ks, err := l.Stats(); err == nil {
			p.KernelDrops += ks.Drops
			p.KernelFreezes += ks.QueueFreezes
			p.LinkDowns = max(p.LinkDowns, ks.LinkDowns)
		}
	}
	s.liveMu.Unlock()
	return p
}

// work is one worker's share of one dispatch batch. The payloads of pkts
// point into arena.
type work struct {
	pkts    []capture.Decoded
	arena   []byte
	lines   []byte    // the batch's calls encoded by the worker (EncodingSink)
	calls   []tagged  // the batch's calls (reused with the batch)
	lastIdx uint64    // index of the batch's last packet (for timeout-emitted calls)
	lastTS  time.Time // packet time at the end of the batch
	final   bool      // end of input: flush everything
}

type tagged struct {
	idx  uint64
	c    *model.Call
	line []byte // encoded by the worker; nil without an EncodingSink
}

type result struct {
	calls []tagged
	w     *work          // returned to the pool by the merger
	p     *parser.Parser // made the calls; nil when nothing parses
}

// worker owns one shard's reassembly and parsing state.
type worker struct {
	asm      *reassembly.Assembler
	p        *parser.Parser
	cur      uint64
	calls    []tagged
	lastTick time.Time
	tick     time.Duration
	enc      EncodingSink // nil: the output goroutine encodes
}

// Call implements parser.Sink: tag the call with the packet that completed it.
func (w *worker) Call(c *model.Call) { w.calls = append(w.calls, tagged{idx: w.cur, c: c}) }

// encode fills in each call's line, in wk.lines (which lives until the
// merger recycles wk, after the lines are written).
func (w *worker) encode(wk *work, calls []tagged) {
	if w.enc == nil || len(calls) == 0 {
		return
	}
	for i := range calls {
		// EncodeCall only appends: a line cut before the array grows
		// stays valid in the old one.
		start := len(wk.lines)
		wk.lines = w.enc.EncodeCall(wk.lines, calls[i].c)
		calls[i].line = wk.lines[start:len(wk.lines):len(wk.lines)]
	}
}

func (w *worker) process(wk *work) []tagged {
	w.calls = wk.calls[:0] // the batch's, back from the merger with it
	for i := range wk.pkts {
		d := &wk.pkts[i]
		w.cur = d.Index
		w.asm.Packet(d)
	}
	w.endBatch(wk.lastIdx, wk.lastTS, wk.final)
	wk.calls = w.calls
	return w.calls
}

// endBatch closes a dispatch batch whose last packet was lastIdx at
// lastTS: the idle-timeout sweep when TickEvery of packet time has passed,
// or at the end of the input (final) the flush of every connection. Calls
// it completes are tagged with lastIdx.
func (w *worker) endBatch(lastIdx uint64, lastTS time.Time, final bool) {
	w.cur = lastIdx
	if final {
		w.asm.FlushAll(lastTS)
	} else if !lastTS.IsZero() && lastTS.Sub(w.lastTick) >= w.tick {
		w.asm.Tick(lastTS)
		w.lastTick = lastTS
	}
}

// streamFactory adapts the parser to the reassembler's factory interface
// (neither package imports the other).
type streamFactory struct{ p *parser.Parser }

func (f streamFactory) NewStream(meta model.ConnMeta) reassembly.Stream { return f.p.NewConn(meta) }

// nullFactory drops reassembled bytes (StopAfter reassemble).
type nullFactory struct{}
type nullStream struct{}

func (nullFactory) NewStream(model.ConnMeta) reassembly.Stream { return nullStream{} }
func (nullStream) Data(model.Direction, []byte, time.Time)     {}
func (nullStream) Gap(model.Direction, int, time.Time)         {}
func (nullStream) Close(time.Time)                             {}

// Summary is what a run did, for the end-of-run report and --stats-json.
type Summary struct {
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	TCPPackets  uint64 `json:"tcp_packets"`
	Calls       uint64 `json:"calls"`
	Flows       uint64 `json:"flows"`
	ParseErrors uint64 `json:"parse_errors"`
	Gaps        uint64 `json:"gaps"`
	MissedBytes uint64 `json:"missed_bytes"`
	Drops       uint64 `json:"drops"`
	KernelDrops uint64 `json:"kernel_drops"`
	// KernelPackets is what the kernel says it handed to the live sockets
	// once their fanout group was complete.
	KernelPackets uint64 `json:"kernel_packets"`
	// LiveEarly counts frames the live sockets took in before their fanout
	// group was complete, skipped because another socket may have seen
	// them too.
	LiveEarly uint64 `json:"live_early,omitempty"`
	// LinkDowns counts the times the live interface went down (each
	// socket of a fanout group sees every one: the most any saw); capture
	// resumed when it came back up.
	LinkDowns uint64 `json:"link_downs,omitempty"`
	Filtered  uint64 `json:"filtered"`

	Decode     capture.DecodeStats `json:"decode"`
	Reassembly reassembly.Stats    `json:"reassembly"`
	Parser     parser.Stats        `json:"parser"`
	Discovery  discovery.Stats     `json:"discovery"`
	// InputError is a capture file that ended badly (truncated, corrupt),
	// or a live interface that went away: everything before it was
	// processed.
	InputError string `json:"input_error,omitempty"`
	// Interrupted is set when a file run was stopped (a signal) before
	// its input was read to the end; never for live capture, which always
	// ends so.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Run reads the input to its end (or until ctx is done) and writes sink.
// A truncated or corrupt capture, or a live interface that goes away, is
// not fatal here: what came before is processed and the error is returned
// in Summary.InputError. A Sensor runs
// once.
func (s *Sensor) Run(ctx context.Context, sink Sink) (Summary, error) {
	var inv *discovery.Inventory
	if s.cfg.StopAfter == StageAll {
		var err error
		inv, err = discovery.New(s.cfg.Discovery, s.log)
		if err != nil {
			return Summary{}, err
		}
	}
	var sources []capture.Source
	var live []*capture.LiveSource
	if s.cfg.Live != nil {
		var err error
		live, err = capture.OpenLive(*s.cfg.Live)
		if err != nil {
			return Summary{}, err
		}
		for _, l := range live {
			sources = append(sources, l)
		}
		s.liveMu.Lock()
		s.live = live
		s.liveMu.Unlock()
		s.log.Info("capturing", zap.String("interface", s.cfg.Live.Interface), zap.Int("sockets", len(live)))
	} else {
		f, err := capture.OpenFiles(s.cfg.Files, s.cfg.File)
		if err != nil {
			return Summary{}, err
		}
		_, total := f.Progress()
		s.fileTotal.Store(total) // the reader publishes the position as it goes
		sources = append(sources, f)
	}
	defer func() {
		for _, src := range sources {
			src.Close()
		}
	}()
	s.readyOnce.Do(func() { close(s.ready) })
	// Closing the sources unblocks a reader waiting for packets.
	// rctx also ends when a reader fails: with several fanout sockets the
	// others must not go on while the kernel hashes the failed socket's
	// share of the flows into a ring nobody reads.
	rctx, cancelReaders := context.WithCancel(ctx)
	defer cancelReaders()
	stop := context.AfterFunc(rctx, func() {
		for _, l := range live {
			l.Close()
		}
	})
	defer stop()

	enc, _ := sink.(EncodingSink)
	n := s.cfg.Workers
	if s.cfg.StopAfter == StageDecode {
		n = 0
	}
	workers := make([]*worker, n)
	ins := make([]chan *work, n)
	outs := make([]chan *result, n)
	var shared chan *result // live mode: unordered fan-in
	ordered := len(sources) == 1
	if !ordered {
		shared = make(chan *result, n*s.cfg.QueueDepth)
	}
	for i := range workers {
		w := &worker{tick: s.cfg.TickEvery, enc: enc}
		var f reassembly.StreamFactory = nullFactory{}
		if s.cfg.StopAfter != StageReassemble {
			pcfg := s.cfg.Parser
			// Without discovery nothing keeps a Call's strings past the
			// sink, so their memory is reused too, and nothing reads a
			// body (parser.Config).
			pcfg.RecycleStrings = inv == nil
			pcfg.SkipBodies = inv == nil
			p, err := parser.New(pcfg, w)
			if err != nil {
				return Summary{}, err
			}
			w.p = p
			f = streamFactory{p}
		}
		w.asm = reassembly.New(s.cfg.Reassembly, f)
		workers[i] = w
		ins[i] = make(chan *work, s.cfg.QueueDepth)
		if ordered {
			outs[i] = make(chan *result, s.cfg.QueueDepth)
		}
	}
	// Inline: one worker in file mode on one core. Handing batches between
	// goroutines buys nothing there, and costs a copy of every payload and
	// cold caches: the packet is reassembled and parsed while its bytes
	// are still in cache. Output is the same as the batched path's (the
	// tests compare 1, 2 and 3 workers byte for byte).
	if n == 1 && s.cfg.Live == nil && s.inline() {
		return s.runInline(ctx, sources[0], workers[0], inv, sink)
	}
	pool := &sync.Pool{New: func() any { return &work{arena: make([]byte, 0, 64<<10)} }}

	var wg sync.WaitGroup
	for i, w := range workers {
		out := shared
		if ordered {
			out = outs[i]
		}
		wg.Go(func() {
			for wk := range ins[i] {
				calls := w.process(wk)
				w.encode(wk, calls)
				out <- &result{calls: calls, w: wk, p: w.p}
			}
			if ordered {
				close(out)
			}
		})
	}

	// Readers. The end-of-input flush goes to the workers only once every
	// reader has handed on its last batch: a reader that finished early
	// must not close connections another reader still has packets for.
	ends := make([]readEnd, len(sources))
	var rwg sync.WaitGroup
	for si, src := range sources {
		rwg.Go(func() {
			if ends[si] = s.read(rctx, src, ins, pool); ends[si].err != nil {
				cancelReaders()
			}
		})
	}
	go func() {
		rwg.Wait()
		var last readEnd
		for _, e := range ends {
			last.lastIdx = max(last.lastIdx, e.lastIdx)
			if e.lastTS.After(last.lastTS) {
				last.lastTS = e.lastTS
			}
		}
		for _, in := range ins {
			w := pool.Get().(*work)
			w.lastIdx, w.lastTS, w.final = last.lastIdx, last.lastTS, true
			in <- w
			close(in)
		}
		wg.Wait()
		if !ordered {
			close(shared)
		}
	}()

	// Output: merge in input order, discovery, sinks.
	o := &output{s: s, inv: inv, sink: sink, enc: enc}
	var merged []tagged
	var used []*result
	if ordered && n > 0 {
		for done := false; !done; {
			merged, used = merged[:0], used[:0]
			for i := range outs {
				r, ok := <-outs[i]
				if !ok {
					done = true
					continue
				}
				merged = append(merged, r.calls...)
				used = append(used, r)
			}
			o.emit(merged)
			for _, r := range used { // after emit: the lines live in them
				o.release(r.p, r.calls)
				recycle(pool, r.w)
			}
		}
	} else if n > 0 {
		for r := range shared {
			o.emit(r.calls)
			o.release(r.p, r.calls)
			recycle(pool, r.w)
		}
	} else {
		rwg.Wait()
	}
	// Every goroutine has ended here: the channels were drained to close.
	wg.Wait()
	return s.finish(ends, workers, live, inv, sink, o.err)
}

// finish fills the summary from every stage's counters and writes the
// end-of-run output.
func (s *Sensor) finish(ends []readEnd, workers []*worker, live []*capture.LiveSource,
	inv *discovery.Inventory, sink Sink, sinkErr error) (Summary, error) {
	var sum Summary
	sum.Packets, sum.Bytes = s.packets.Load(), s.bytes.Load()
	sum.Calls = s.calls.Load()
	for _, e := range ends {
		addStats(&sum.Decode, &e.stats)
	}
	for _, w := range workers {
		rs := w.asm.Stats()
		addStats(&sum.Reassembly, &rs)
		if w.p != nil {
			ps := w.p.Stats()
			addStats(&sum.Parser, &ps)
		}
	}
	for _, l := range live {
		if ks, err := l.Stats(); err == nil {
			sum.KernelDrops += ks.Drops
			sum.KernelPackets += ks.Packets
			sum.LiveEarly += ks.Early
			sum.LinkDowns = max(sum.LinkDowns, ks.LinkDowns)
		}
	}
	s.fillTotals(&sum)
	for _, e := range ends {
		// Live capture always ends by being stopped: only a file run
		// can be cut short.
		sum.Interrupted = sum.Interrupted || e.canceled && !s.Live()
		if e.err != nil && sum.InputError == "" {
			sum.InputError = e.err.Error()
		}
	}
	if inv != nil {
		sum.Discovery = inv.Stats()
		openapi, err := inv.OpenAPI()
		if err != nil {
			return sum, fmt.Errorf("reconstruct OpenAPI: %w", err)
		}
		if err := sink.Finish(inv.Endpoints(), inv.Findings(), openapi); err != nil && sinkErr == nil {
			sinkErr = err
		}
	} else if err := sink.Finish(nil, nil, nil); err != nil && sinkErr == nil {
		sinkErr = err
	}
	return sum, sinkErr
}

// output is the pipeline's last stage: calls in input order through
// discovery into the sink. Its first sink error sticks; later calls are
// still counted and observed.
type output struct {
	s    *Sensor
	inv  *discovery.Inventory
	sink Sink
	enc  EncodingSink
	err  error
	done []*model.Call // release's scratch
}

// emit puts one merge round's calls in input order and hands them on.
func (o *output) emit(calls []tagged) {
	slices.SortStableFunc(calls, compareTagged)
	o.s.calls.Add(uint64(len(calls)))
	for _, t := range calls {
		if o.inv != nil {
			o.inv.Observe(t.c)
		}
		if o.err == nil {
			if t.line != nil {
				o.err = o.enc.WriteEncoded(t.c, t.line)
			} else {
				o.err = o.sink.WriteCall(t.c)
			}
		}
	}
}

// release hands the calls of one worker's batch back to its parser once
// they are written: the next calls reuse their memory.
func (o *output) release(p *parser.Parser, calls []tagged) {
	if p == nil {
		return
	}
	o.done = o.done[:0]
	for _, t := range calls {
		o.done = append(o.done, t.c)
	}
	p.Recycle(o.done...)
	clear(o.done)
}

func recycle(pool *sync.Pool, w *work) {
	clear(w.pkts) // drop payload references into the arena
	w.pkts = w.pkts[:0]
	w.arena = w.arena[:0]
	w.lines = w.lines[:0]
	clear(w.calls) // the sink is done with them
	w.calls = w.calls[:0]
	w.final = false
	pool.Put(w)
}

func compareTagged(a, b tagged) int {
	// Not cmp.Or: it would evaluate all five for every pair of the sort.
	// The tunnel last: the same addresses in two tunnels are two flows,
	// possibly on two workers, whose calls closed by a timeout or the
	// final flush tie on the rest.
	if c := cmp.Compare(a.idx, b.idx); c != 0 {
		return c
	}
	if c := a.c.TS.Compare(b.c.TS); c != 0 {
		return c
	}
	if c := a.c.Src.Compare(b.c.Src); c != 0 {
		return c
	}
	if c := a.c.Dst.Compare(b.c.Dst); c != 0 {
		return c
	}
	return cmp.Compare(a.c.Tunnel, b.c.Tunnel)
}

// readEnd is what a reader leaves behind: its counters, the error that
// ended it, and where the input stopped (for the final flush).
type readEnd struct {
	stats    capture.DecodeStats
	err      error
	canceled bool // stopped before the end of its input
	lastIdx  uint64
	lastTS   time.Time
}

// read decodes one source and deals its TCP packets to the workers. In
// file mode (one source) every worker gets every batch, so that timeouts
// and the merge are independent of the worker count.
func (s *Sensor) read(ctx context.Context, src capture.Source, ins []chan *work, pool *sync.Pool) readEnd {
	pump := s.newPump(src)
	n := len(ins)
	cur := make([]*work, n)
	for i := range cur {
		cur[i] = pool.Get().(*work)
	}
	var (
		d       capture.Decoded
		inBatch int
		lastIdx uint64
		lastTS  time.Time
		firstTS time.Time // live: packet time of the batch's first packet
		readErr error
	)
	live := s.cfg.Live != nil
	flush := func() {
		for i := range cur {
			w := cur[i]
			w.lastIdx, w.lastTS = lastIdx, lastTS
			ins[i] <- w
			cur[i] = pool.Get().(*work)
		}
		inBatch = 0
	}
	for {
		if inBatch == 0 {
			if readErr = ctx.Err(); readErr != nil { // canceled
				break
			}
		}
		err := pump.next(&d)
		if errors.Is(err, capture.ErrIdle) {
			// A quiet live link: hand on what is batched rather than
			// hold calls back until the batch fills.
			if inBatch > 0 {
				flush()
			} else if now := time.Now().Add(-liveIdleSlack); n > 0 && !lastTS.IsZero() && now.Sub(lastTS) >= s.cfg.TickEvery {
				// Nothing batched: packet time stands still while the
				// link is quiet, and a request left unanswered would wait
				// for the next packet to time out. The wall clock moves
				// it on (ring timestamps are wall-clock time), and the
				// workers' idle sweep runs on an empty batch, as often as
				// it would with packets (TickEvery).
				lastTS = now
				flush()
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if n == 0 {
			continue
		}
		w := cur[0]
		if n > 1 { // one worker takes everything: no hash
			w = cur[d.Hash()%uint64(n)]
		}
		if len(d.Payload) > 0 {
			// Copy into the arena; when it is full, a new one is started
			// and the old one lives on through the slices that point at it.
			if cap(w.arena)-len(w.arena) < len(d.Payload) {
				// Grow geometrically: the pooled batch keeps its largest
				// arena, so a steady stream allocates none.
				w.arena = make([]byte, 0, min(max(2*cap(w.arena), 64<<10, len(d.Payload)), max(8<<20, len(d.Payload))))
			}
			off := len(w.arena)
			w.arena = append(w.arena, d.Payload...)
			d.Payload = w.arena[off:len(w.arena):len(w.arena)]
		}
		w.pkts = append(w.pkts, d)
		lastIdx, lastTS = d.Index, d.TS
		if inBatch == 0 {
			firstTS = d.TS
		}
		inBatch++
		// Files are batched by count only: the ticks, and so the output,
		// do not depend on timing.
		if inBatch >= s.cfg.BatchSize || live && d.TS.Sub(firstTS) >= liveHandOn {
			flush()
		}
	}
	if n > 0 && inBatch > 0 {
		flush()
	}
	for i := range cur {
		pool.Put(cur[i])
	}
	return pump.end(readErr, lastIdx, lastTS)
}

// pump reads one source up to its next decoded TCP packet, counting what it
// passes over. Both the batched reader and the inline path use it.
type pump struct {
	s    *Sensor
	src  capture.Source
	file *capture.FileSource // src in file mode, for progress; nil live
	// Packets and bytes read since the last publish: adding them to the
	// shared counters once per packet put a cache line every reader writes
	// on the per-packet path.
	pkts, bytes uint64
	dec         *capture.Decoder
	filt        *fileFilter // file mode --filter; nil keeps everything
	pkt         capture.Packet
	live        bool
	pubTS       time.Time // live: packet time of the last publish
}

func (s *Sensor) newPump(src capture.Source) *pump {
	p := &pump{s: s, src: src, dec: capture.NewDecoder(s.cfg.Dec), live: s.cfg.Live != nil}
	p.file, _ = src.(*capture.FileSource)
	if s.cfg.Live == nil {
		p.filt, _ = newFileFilter(s.cfg.FileFilter) // validated in Config.Validate
	}
	return p
}

// next fills d with the next TCP packet. Its error ends the input (io.EOF
// at a clean end), except capture.ErrIdle from a quiet live source.
// d.Payload is valid until the next call.
func (p *pump) next(d *capture.Decoded) error {
	for {
		if err := p.src.Next(&p.pkt); err != nil {
			p.publish() // the end, or a quiet live link: show what was read
			return err
		}
		p.bytes += uint64(len(p.pkt.Data))
		if p.pkts++; p.pkts == progressEvery {
			p.publish()
		} else if p.live && p.pkt.TS.Sub(p.pubTS) >= liveHandOn {
			// A slow live link may never fill progressEvery packets nor
			// fall quiet long enough for ErrIdle.
			p.pubTS = p.pkt.TS
			p.publish()
		}
		if !p.filt.keep(&p.pkt) {
			continue
		}
		if p.dec.Decode(&p.pkt, d) && d.Proto == 6 {
			return nil
		}
	}
}

// progressEvery is how many packets pass between two progress updates
// (a progress line redraws a few times a second).
const progressEvery = 4096

// liveHandOn bounds, in packet time, how long a live reader holds packet
// counts before publishing them and TCP packets before handing the batch
// to the workers: on a link too slow to fill either, they would otherwise
// wait for a 200 ms silence (capture.ErrIdle) that steady traffic never
// leaves, and the minute log would show no packets and no calls.
const liveHandOn = 250 * time.Millisecond

// liveIdleSlack is how far behind the wall clock a quiet live link's
// packet time is moved: a frame can wait in a ring block the kernel has
// not yet retired (liveBlockTimeout, 50 ms) and must not come out older
// than the time the sweep already ran at.
const liveIdleSlack = time.Second

// publish makes the packets and bytes read so far and the file position
// visible to Progress; called on the reader's goroutine (FileSource is not
// safe for concurrent use).
func (p *pump) publish() {
	p.s.packets.Add(p.pkts)
	p.s.bytes.Add(p.bytes)
	p.pkts, p.bytes = 0, 0
	if p.file != nil {
		done, _ := p.file.Progress() // the total was published by Run
		p.s.fileDone.Store(done)
	}
}

// end is the reader's summary once the input is done.
func (p *pump) end(err error, lastIdx uint64, lastTS time.Time) readEnd {
	canceled := errors.Is(err, context.Canceled)
	if canceled {
		err = nil
	}
	if p.filt != nil {
		p.s.filtered.Add(p.filt.dropped)
	}
	p.publish()
	return readEnd{stats: p.dec.Stats(), err: err, canceled: canceled, lastIdx: lastIdx, lastTS: lastTS}
}

// inline reports whether one worker reading files runs in the reader's
// goroutine (Config.Inline).
func (s *Sensor) inline() bool {
	switch s.cfg.Inline {
	case InlineAlways:
		return true
	case InlineNever:
		return false
	}
	return runtime.GOMAXPROCS(0) == 1
}

// runInline is Run for one worker on one file source: read, reassemble,
// parse, discover and write in one goroutine. The worker is ticked and its
// calls emitted at the same packets as on the batched path (every
// BatchSize TCP packets, then the final flush), so the output is the same.
func (s *Sensor) runInline(ctx context.Context, src capture.Source, w *worker, inv *discovery.Inventory, sink Sink) (Summary, error) {
	p := s.newPump(src)
	o := &output{s: s, inv: inv, sink: sink}
	var (
		d       capture.Decoded
		inBatch int
		lastIdx uint64
		lastTS  time.Time
		readErr error
	)
	round := func(final bool) {
		w.endBatch(lastIdx, lastTS, final)
		o.emit(w.calls)
		o.release(w.p, w.calls)
		clear(w.calls) // the sink has them; keep the array, not the calls
		w.calls = w.calls[:0]
		inBatch = 0
	}
	for {
		if inBatch == 0 {
			if readErr = ctx.Err(); readErr != nil { // canceled
				break
			}
		}
		if err := p.next(&d); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		w.cur = d.Index
		w.asm.Packet(&d) // reads d.Payload during the call only
		lastIdx, lastTS = d.Index, d.TS
		if inBatch++; inBatch >= s.cfg.BatchSize {
			round(false)
		}
	}
	if inBatch > 0 {
		round(false)
	}
	round(true)
	ends := []readEnd{p.end(readErr, lastIdx, lastTS)}
	return s.finish(ends, []*worker{w}, nil, inv, sink, o.err)
}
