// Command apisensor is a passive API traffic sensor: it reads pcap/pcapng
// files or a live interface, reassembles TCP, parses HTTP and writes calls,
// the API inventory and findings. See DESIGN.md for the CLI contract.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const usage = `apisensor — passive API traffic sensor

Usage:
  apisensor run -r FILE [-r FILE...] [flags]     read pcap/pcapng files ('-' = stdin)
  apisensor run -i IFACE [--fanout N] [flags]    live capture (AF_PACKET, needs CAP_NET_RAW)
  apisensor version

Run 'apisensor run -h' for the flags.
`

var version = "dev"

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		err := runCmd(ctx, args[1:], stdout, stderr)
		if err == nil {
			return 0
		}
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(stderr, "apisensor run: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "apisensor: %v\n", err)
		return 1
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "apisensor", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "ingest", "analyze":
		fmt.Fprintf(stderr, "apisensor %s: the Kafka/ClickHouse stages are not in this build yet; "+
			"'apisensor run --out DIR' writes everything to files\n", args[0])
		return 2
	default:
		fmt.Fprintf(stderr, "apisensor: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

type usageError struct{ error }

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: %w", level, err)}
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core), nil
}
