package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/pprof"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/discovery"
	"github.com/apisensor/apisensor/sensor"
	"github.com/apisensor/apisensor/storage"
)

// fileConfig is the --config YAML. Flags given on the command line win.
type fileConfig struct {
	Workers        int      `yaml:"workers"`
	Out            string   `yaml:"out"`
	Specs          []string `yaml:"specs"`
	HMACKeyFile    string   `yaml:"hmac_key_file"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	BodyCapBytes   int      `yaml:"body_cap_bytes"`
	VLANInFlowKey  *bool    `yaml:"vlan_in_flow_key"`
	Reassembly     struct {
		MaxConns           int           `yaml:"max_conns"`
		MaxBufferedPerConn int           `yaml:"max_buffered_per_conn"`
		MaxBufferedTotal   int           `yaml:"max_buffered_total"`
		IdleTimeout        time.Duration `yaml:"idle_timeout"`
	} `yaml:"reassembly"`
	Live struct {
		RingSizeMB int    `yaml:"ring_size_mb"`
		Filter     string `yaml:"filter"`
	} `yaml:"live"`
}

func loadFileConfig(path string) (fileConfig, error) {
	var fc fileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && err != io.EOF {
		return fc, fmt.Errorf("config %s: %w", path, err)
	}
	return fc, nil
}

// The built-in HMAC key keeps output reproducible when none is configured.
// Deployments set their own (--hmac-key-file) so that apikey:/session:
// principals cannot be matched across organisations.
const builtinHMACKey = "apisensor-default-hmac-key: set --hmac-key-file in production"

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		files, specs, proxies multiFlag
		kafka                 = multiFlag{comma: true}
		iface                 = fs.String("i", "", "live capture `interface` (AF_PACKET)")
		fanout                = fs.Int("fanout", 0, "live: number of AF_PACKET fanout sockets (default: --workers)")
		filter                = fs.String("filter", "", "BPF `expression` (tcpdump syntax): applied in the kernel with -i; with -r in user space, to the IP packets of every link type")
		cfgPath               = fs.String("config", "", "YAML config `file` (flags win)")
		out                   = fs.String("out", "", "output `dir` for calls.jsonl, endpoints.json, findings.jsonl, openapi.json; '-' = calls on stdout (default \"out\")")
		workers               = fs.Int("workers", 0, "flow-sharded workers (default: the CPUs the process may use, GOMAXPROCS)")
		stopAfter             = fs.String("stop-after", "", "stop after a `stage`: decode, reassemble, parse (benchmarks, triage)")
		statsJSON             = fs.String("stats-json", "", "write the run summary as JSON to `file`")
		hmacFile              = fs.String("hmac-key-file", "", "`file` holding the per-deployment key for apikey:/session: principals")
		bodyCap               = fs.Int("body-cap", 0, "bytes of each message body kept for analysis (default 65536)")
		vlanKey               = fs.Bool("vlan-in-flow-key", true, "treat the same 5-tuple on two VLANs as two connections")
		logLevel              = fs.String("log-level", "info", "debug, info, warn, error")
		progress              = fs.String("progress", "auto", "progress line on stderr: auto (when a terminal), always, never")
		cpuProfile            = fs.String("cpuprofile", "", "write a Go CPU profile of the run to `file`")
	)
	fs.Var(&files, "r", "read packets from pcap/pcapng `file` (repeatable, '-' = stdin; gzip is detected)")
	fs.Var(&specs, "spec", "OpenAPI/Swagger `file` (JSON or YAML), or host=file (repeatable)")
	fs.Var(&proxies, "trusted-proxy", "`CIDR` whose X-Forwarded-For is believed (repeatable)")
	fs.Var(&kafka, "kafka", "Kafka `brokers` host:port,... (not in this build yet)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: apisensor run (-r FILE... | -i IFACE) [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (files are given with -r)", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()

	var fc fileConfig
	if *cfgPath != "" {
		if fc, err = loadFileConfig(*cfgPath); err != nil {
			return err
		}
	}
	if len(kafka.vals) > 0 {
		return usageError{fmt.Errorf("--kafka: the Kafka sink is not in this build yet; use --out DIR")}
	}

	cfg := sensor.DefaultConfig()
	cfg.Files = files.vals
	if fc.Workers > 0 {
		cfg.Workers = fc.Workers
	}
	if *workers > 0 {
		cfg.Workers = *workers
	}
	if cfg.StopAfter, err = sensor.ParseStage(*stopAfter); err != nil {
		return usageError{err}
	}
	outDir := cmp.Or(*out, fc.Out, storage.DefaultFilesConfig().Dir)

	// Parser: principals, bodies, proxies.
	keyFile := cmp.Or(*hmacFile, fc.HMACKeyFile)
	if keyFile != "" {
		key, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("read HMAC key: %w", err)
		}
		key = bytes.TrimSpace(key)
		if len(key) < 16 {
			return fmt.Errorf("HMAC key in %s is %d bytes; use at least 16 random bytes", keyFile, len(key))
		}
		cfg.Parser.HMACKey = key
	} else {
		cfg.Parser.HMACKey = []byte(builtinHMACKey)
		log.Debug("no --hmac-key-file: using the built-in key (fine for files on a laptop, not for a deployment)")
	}
	for _, p := range append(fc.TrustedProxies, proxies.vals...) {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return usageError{fmt.Errorf("--trusted-proxy %q: want a CIDR like 10.0.0.0/8 or an address", p)}
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		cfg.Parser.TrustedProxies = append(cfg.Parser.TrustedProxies, pfx)
	}
	if fc.BodyCapBytes > 0 {
		cfg.Parser.MaxBody = fc.BodyCapBytes
	}
	if *bodyCap > 0 {
		cfg.Parser.MaxBody = *bodyCap
	}
	if fc.VLANInFlowKey != nil && !set["vlan-in-flow-key"] {
		cfg.Dec.VLANInFlowKey = *fc.VLANInFlowKey
	} else {
		cfg.Dec.VLANInFlowKey = *vlanKey
	}
	applyReassembly(&cfg, fc)

	// Discovery: specs.
	for _, s := range append(fc.Specs, specs.vals...) {
		in, err := discovery.ParseSpecArg(s)
		if err != nil {
			return usageError{err}
		}
		cfg.Discovery.Specs = append(cfg.Discovery.Specs, in)
	}

	if *iface != "" {
		lc := capture.DefaultLiveConfig()
		lc.Interface = *iface
		lc.Workers = cfg.Workers
		if *fanout > 0 {
			lc.Workers = *fanout
		}
		lc.Filter = cmp.Or(*filter, fc.Live.Filter)
		if fc.Live.RingSizeMB > 0 {
			lc.RingSizeMB = fc.Live.RingSizeMB
		}
		cfg.Live = &lc
	} else if *filter != "" {
		cfg.FileFilter = *filter
	}

	s, err := sensor.New(cfg, log.Named("sensor"))
	if err != nil {
		return usageError{err}
	}
	fcfg := storage.DefaultFilesConfig()
	fcfg.Dir, fcfg.Stdout = outDir, stdout
	sink, err := storage.NewFiles(fcfg)
	if err != nil {
		return err
	}

	gcs := applyGCDefaults()
	log.Debug("garbage collector (GOGC, GOMEMLIMIT override; 0 = left to them)",
		zap.Int("gc_percent", gcs.Percent), zap.Int64("memory_limit", gcs.MemLimit))

	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	start := time.Now()
	stopProgress := startProgress(s, stderr, *progress, log)
	sum, err := s.Run(ctx, sink)
	stopProgress()
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	printSummary(stderr, sum, elapsed, outDir)
	if sum.Interrupted {
		// A signal ended a file run: say so, or the summary reads like a
		// complete one.
		p := s.Progress()
		if p.FileTotal > 0 {
			fmt.Fprintf(stderr, "  interrupted: %.1f of %.1f MB of input read; the output holds what was read\n",
				float64(p.FileDone)/1e6, float64(p.FileTotal)/1e6)
		} else {
			fmt.Fprintf(stderr, "  interrupted after %.1f MB of input; the output holds what was read\n", float64(p.FileDone)/1e6)
		}
	}
	if *statsJSON != "" {
		if err := writeStats(*statsJSON, sum, elapsed); err != nil {
			return err
		}
	}
	if sum.InputError != "" {
		if s.Live() {
			// Live capture ends only when told to: a supervisor
			// (systemd, a DaemonSet) must see this as a failure.
			return fmt.Errorf("live capture stopped: %s", sum.InputError)
		}
		log.Warn("input ended early; everything before the error was processed", zap.String("error", sum.InputError))
	}
	return nil
}

func writeStats(path string, sum sensor.Summary, elapsed time.Duration) error {
	out := struct {
		sensor.Summary
		ElapsedSec float64 `json:"elapsed_sec"`
	}{sum, elapsed.Seconds()}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write stats: %w", err)
	}
	return nil
}

func printSummary(w io.Writer, s sensor.Summary, elapsed time.Duration, out string) {
	secs := elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	fmt.Fprintf(w, "apisensor: %d packets (%.1f MB) in %.2fs, %.0f packets/s\n",
		s.Packets, float64(s.Bytes)/1e6, secs, float64(s.Packets)/secs)
	fmt.Fprintf(w, "  flows %d, calls %d, parse errors %d", s.Flows, s.Calls, s.ParseErrors)
	if s.ParseErrors > 0 {
		fmt.Fprintf(w, " (%s)", s.Parser.Errors)
	}
	fmt.Fprintf(w, ", gaps %d (%d bytes missed", s.Gaps, s.MissedBytes)
	if cut := s.Reassembly.SnapCutBytes; cut > 0 {
		// Not loss on the wire: the capture kept only the first bytes of
		// each frame.
		fmt.Fprintf(w, ", %d of them cut by the capture's snap length", cut)
	}
	fmt.Fprintf(w, "), drops %d", s.Drops)
	if s.KernelDrops > 0 {
		fmt.Fprintf(w, ", kernel drops %d", s.KernelDrops)
	}
	if h2 := s.Parser.HTTP2; h2 > 0 {
		fmt.Fprintf(w, ", HTTP/2 connections %d (not parsed)", h2)
	}
	if s.LinkDowns > 0 {
		fmt.Fprintf(w, ", interface went down %d time(s)", s.LinkDowns)
		if s.InputError == "" {
			fmt.Fprint(w, " (capture resumed)")
		}
	}
	fmt.Fprintln(w)
	if d := s.Discovery; d != (discovery.Stats{}) {
		fmt.Fprintf(w, "  inventory: %d hosts, %d endpoints; %d calls ignored (no real answer)", d.Hosts, d.Endpoints, d.Ignored)
		if d.HostEvictions+d.EndpointEvictions > 0 {
			fmt.Fprintf(w, ", %d hosts and %d endpoints evicted at the caps", d.HostEvictions, d.EndpointEvictions)
		}
		if d.NodeCapDrops > 0 {
			fmt.Fprintf(w, ", %d calls not filed (template tree at its node cap)", d.NodeCapDrops)
		}
		fmt.Fprintln(w)
	}
	if out != "-" {
		fmt.Fprintf(w, "  output in %s/\n", out)
	}
	if s.InputError != "" {
		fmt.Fprintf(w, "  input error: %s\n", s.InputError)
	}
}

// startProgress prints a progress line every second while the run goes on,
// when stderr is a terminal (or always/never as asked).
func startProgress(s *sensor.Sensor, w io.Writer, mode string, log *zap.Logger) func() {
	if s.Live() && mode != "never" {
		return startLiveReport(s, log)
	}
	on := mode == "always"
	if mode == "auto" {
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				on = true
			}
		}
	}
	if !on {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				p := s.Progress()
				el := time.Since(start).Seconds()
				pct := ""
				if p.FileTotal > 0 {
					pct = fmt.Sprintf("%5.1f%% ", 100*float64(p.FileDone)/float64(p.FileTotal))
				}
				fmt.Fprintf(w, "\r\033[K%s%d packets, %.1f MB, %d calls, %.0f packets/s",
					pct, p.Packets, float64(p.Bytes)/1e6, p.Calls, float64(p.Packets)/el)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func applyReassembly(cfg *sensor.Config, fc fileConfig) {
	r := fc.Reassembly
	if r.MaxConns > 0 {
		cfg.Reassembly.MaxConns = r.MaxConns
	}
	if r.MaxBufferedPerConn > 0 {
		cfg.Reassembly.MaxBufferedPerConn = r.MaxBufferedPerConn
	}
	if r.MaxBufferedTotal > 0 {
		cfg.Reassembly.MaxBufferedTotal = r.MaxBufferedTotal
	}
	if r.IdleTimeout > 0 {
		cfg.Reassembly.IdleTimeout = r.IdleTimeout
	}
}

// liveReportEvery is how often a live run logs its counters: a sensor runs
// for days, and kernel drops must be visible while they happen.
const liveReportEvery = time.Minute

// startLiveReport logs packets, calls and kernel drops once a minute.
func startLiveReport(s *sensor.Sensor, log *zap.Logger) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(liveReportEvery)
		defer t.Stop()
		var last sensor.Progress
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := s.Progress()
				lvl := log.Info
				if p.KernelDrops > last.KernelDrops || p.LinkDowns > last.LinkDowns {
					lvl = log.Warn
				}
				lvl("live capture", zap.Uint64("packets", p.Packets), zap.Uint64("calls", p.Calls),
					zap.Uint64("packets_last_minute", p.Packets-last.Packets),
					zap.Uint64("kernel_drops", p.KernelDrops), zap.Uint64("kernel_queue_freezes", p.KernelFreezes),
					zap.Uint64("link_downs", p.LinkDowns))
				last = p
			}
		}
	}()
	return func() { close(done); <-finished }
}
