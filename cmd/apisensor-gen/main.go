// Command apisensor-gen writes deterministic test captures for apisensor:
//
//	apisensor-gen -kind api|demo|adversarial -o FILE [-packets N] [-seed S]
//	              [-encap none|vlan|qinq|vxlan|geneve|gre|erspan2|erspan3|mpls]
//	              [-tunnel-id N] [-dup-tunnel-id N] [-nanos] [-truth FILE.jsonl]
//
// The same flags always give the same bytes. -truth writes the ground truth
// (one JSON line per HTTP transaction put on the wire).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/apisensor/apisensor/internal/gen"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apisensor-gen:", err)
		os.Exit(1)
	}
}

func run(args []string, logw io.Writer) error {
	fs := flag.NewFlagSet("apisensor-gen", flag.ContinueOnError)
	kind := fs.String("kind", "api", "capture to write: api, demo or adversarial")
	out := fs.String("o", "", "output pcap file ('-' for stdout)")
	packets := fs.Int64("packets", gen.DefaultAPIConfig().Packets, "api: target packet count")
	seed := fs.Uint64("seed", 1, "random seed")
	encap := fs.String("encap", "none", "encapsulation: none, vlan, qinq, vxlan, geneve, gre, erspan2, erspan3, mpls")
	tunnel := fs.Uint("tunnel-id", 100, "VLAN id / VNI / GRE key / ERSPAN session / MPLS label")
	dup := fs.Uint("dup-tunnel-id", 0, "also write every frame in this tunnel (same inner 5-tuples in two tunnels)")
	nanos := fs.Bool("nanos", false, "write a nanosecond-resolution pcap")
	truth := fs.String("truth", "", "write the ground truth as JSON lines to this file")
	halfOpen := fs.Int("half-open", gen.DefaultAdversarialConfig().HalfOpen, "adversarial: half-open connections")
	storm := fs.Int("storm", gen.DefaultAdversarialConfig().StormConns, "adversarial: out-of-order storm connections")
	big := fs.Int64("big-body", gen.DefaultAdversarialConfig().BigBody, "adversarial: bytes of the one big response body")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-o FILE is required")
	}
	enc, err := gen.ParseEncap(*encap)
	if err != nil {
		return err
	}
	base := gen.DefaultConfig()
	base.Seed, base.Encap, base.TunnelID, base.DupTunnelID, base.Nanos = *seed, enc, uint32(*tunnel), uint32(*dup), *nanos

	var tw *gen.TruthWriter
	var tf *os.File
	if *truth != "" {
		if tf, err = os.Create(*truth); err != nil {
			return fmt.Errorf("create truth file: %w", err)
		}
		defer tf.Close()
		tw = gen.NewTruthWriter(tf)
		base.Truth = tw.Add
	}

	var w io.Writer = os.Stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("create %s: %w", *out, err)
		}
		defer f.Close()
		w = f
	}
	start := time.Now()
	var sum gen.Summary
	switch *kind {
	case "api":
		cfg := gen.DefaultAPIConfig()
		cfg.Config, cfg.Packets = base, *packets
		sum, err = gen.API(w, cfg)
	case "demo":
		cfg := gen.DefaultDemoConfig()
		cfg.Config = base
		sum, err = gen.Demo(w, cfg)
	case "adversarial":
		cfg := gen.DefaultAdversarialConfig()
		cfg.Config, cfg.HalfOpen, cfg.StormConns, cfg.BigBody = base, *halfOpen, *storm, *big
		sum, err = gen.Adversarial(w, cfg)
	default:
		return fmt.Errorf("unknown -kind %q (want api, demo or adversarial)", *kind)
	}
	if err != nil {
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("close %s: %w", *out, err)
		}
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
		if err := tf.Close(); err != nil {
			return fmt.Errorf("close %s: %w", *truth, err)
		}
	}
	fmt.Fprintf(logw, "apisensor-gen: %s: %d packets, %d bytes, %d transactions, %d connections in %.2fs\n",
		*kind, sum.Packets, sum.Bytes, sum.Transactions, sum.Connections, time.Since(start).Seconds())
	return nil
}
