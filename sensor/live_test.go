package sensor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/internal/gen"
	"github.com/apisensor/apisensor/internal/netnstest"
	"github.com/apisensor/apisensor/model"
	"github.com/apisensor/apisensor/sensor"
)

// A capture replayed with tcpreplay onto a veth pair and captured live
// (AF_PACKET, 2 fanout sockets, kernel BPF filter) gives the same calls as
// reading the file.
func TestLiveCaptureMatchesOffline(t *testing.T) {
	wire := netnstest.New(t)
	path, truth := smallAPICapture(t, 4000, 8)

	offCfg := testConfig()
	offCfg.Files = []string{path}
	offline, offSum := runCapture(t, offCfg)
	diffKeys(t, callKeys(offline), truthKeys(truth))

	lc := capture.DefaultLiveConfig()
	lc.Interface = wire.Host
	lc.Workers = 2
	lc.Filter = "tcp"
	calls, sum := runLive(t, lc, nil, func(*sensor.Sensor) (uint64, error) { return offSum.Packets, wire.Replay(path) })
	if sum.KernelDrops != 0 || sum.KernelPackets < offSum.Packets {
		t.Errorf("kernel counters: %d packets (want >= %d), %d dropped, %d early frames skipped",
			sum.KernelPackets, offSum.Packets, sum.KernelDrops, sum.LiveEarly)
	}
	diffKeys(t, callKeys(calls), callKeys(offline))
	t.Logf("live: %d packets, %d calls; offline %d calls", sum.Packets, len(calls), len(offline))
}

// smallAPICapture writes a generated API capture of about packets packets
// from clients clients, for replaying onto a test wire.
func smallAPICapture(t *testing.T, packets int64, clients int) (string, []gen.Transaction) {
	t.Helper()
	gc := gen.DefaultAPIConfig()
	gc.Packets = packets
	gc.Clients = clients
	return writeAPICapture(t, t.TempDir(), gc)
}

// runLive runs the sensor live with lc, calls replay once every socket is
// in the fanout group (a socket opened late would miss the start), waits
// until the packets replay says it sent were read from the ring (at most
// 20 s), and stops it. in, when not nil, runs the sensor (it opens the
// sockets) inside a network namespace (netnstest.Tun.Do, Loopback.Do).
func runLive(t *testing.T, lc capture.LiveConfig, in func(func() error) error, replay func(*sensor.Sensor) (sent uint64, err error)) ([]*model.Call, sensor.Summary) {
	t.Helper()
	cfg := testConfig()
	cfg.Live = &lc
	s, err := sensor.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in == nil {
		in = func(f func() error) error { return f() }
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var sink memSink
	type res struct {
		sum sensor.Summary
		err error
	}
	done := make(chan res, 1)
	go func() {
		var r res
		r.err = in(func() error {
			var err error
			r.sum, err = s.Run(ctx, &sink)
			return err
		})
		done <- r
	}()
	select {
	case <-s.Ready():
	case r := <-done:
		t.Fatalf("run ended before capturing: %v", r.err)
	}
	want, err := replay(s)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s.Progress().Packets >= want {
			break
		}
	}
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return sink.calls, r.sum
}

// On an interface without a link header (a tun device, as WireGuard and
// IPIP tunnels are) live capture reads raw IP and the kernel filter is
// rebased to the IP header: the calls of a capture written into the tun,
// filtered to port 80 in the kernel, are those of the file filtered to
// port 80.
func TestLiveRawIPInterface(t *testing.T) {
	tun := netnstest.NewTun(t)
	path, _ := smallAPICapture(t, 4000, 8)

	const filter = "tcp port 80"
	offCfg := testConfig()
	offCfg.Files = []string{path}
	offCfg.FileFilter = filter
	offline, offSum := runCapture(t, offCfg)
	if offSum.Filtered == 0 || len(offline) == 0 {
		t.Fatalf("the filter keeps %d calls and drops %d packets: it would test nothing", len(offline), offSum.Filtered)
	}
	want := offSum.Packets - offSum.Filtered

	lc := capture.DefaultLiveConfig()
	lc.Interface = tun.Name
	lc.Workers = 2
	lc.Filter = filter
	// The sockets must be opened in the tun's namespace.
	calls, sum := runLive(t, lc, tun.Do, func(*sensor.Sensor) (uint64, error) { return want, tun.Replay(path) })
	if sum.KernelDrops != 0 || sum.Packets != want {
		t.Errorf("%d packets read (kernel: %d, %d dropped), want the %d the file filter keeps",
			sum.Packets, sum.KernelPackets, sum.KernelDrops, want)
	}
	diffKeys(t, callKeys(calls), callKeys(offline))
	t.Logf("live on %s: %d packets, %d calls; offline %d calls from %d of %d packets", tun.Name, sum.Packets, len(calls), len(offline), want, offSum.Packets)
}

// On a slow, steady live link, one too slow to fill a batch and never quiet
// for the 200 ms that ends a poll, packet counts and calls still show
// while the traffic goes on (within liveHandOn of packet time), not only
// when it stops: the minute log must not read zero on such a link.
func TestLiveSlowLinkShowsProgress(t *testing.T) {
	wire := netnstest.New(t)
	path, truth := smallAPICapture(t, 120, 2)

	lc := capture.DefaultLiveConfig()
	lc.Interface = wire.Host
	lc.Workers = 1
	lc.Filter = "tcp"
	var during sensor.Progress
	calls, sum := runLive(t, lc, nil, func(s *sensor.Sensor) (uint64, error) {
		wait := wire.Start(t, path, "--pps=40") // 3 s, a packet every 25 ms
		done := make(chan error, 1)
		go func() { done <- wait() }()
		for {
			select {
			case err := <-done:
				return 120, err
			case <-time.After(50 * time.Millisecond):
				during = s.Progress()
				if during.Packets > 0 && during.Calls > 0 {
					return 120, <-done
				}
			}
		}
	})
	if during.Packets == 0 || during.Calls == 0 {
		t.Errorf("while the replay ran: %d packets and %d calls shown", during.Packets, during.Calls)
	}
	diffKeys(t, callKeys(calls), truthKeys(truth))
	t.Logf("during the replay: %d packets, %d calls shown; at the end %d packets, %d calls", during.Packets, during.Calls, sum.Packets, len(calls))
}

// A link flap (the capture interface down, then up) does not end live
// capture: the calls replayed before and after it all come out, and the
// summary counts the flap.
func TestLiveLinkFlap(t *testing.T) {
	wire := netnstest.New(t)
	var paths []string
	var offline []*model.Call
	var offPackets uint64
	for seed := uint64(1); seed <= 2; seed++ {
		gc := gen.DefaultAPIConfig()
		gc.Packets, gc.Clients, gc.Seed = 2000, 4, seed
		path, _ := writeAPICapture(t, t.TempDir(), gc)
		cfg := testConfig()
		cfg.Files = []string{path}
		calls, sum := runCapture(t, cfg)
		paths, offline, offPackets = append(paths, path), append(offline, calls...), offPackets+sum.Packets
	}

	lc := capture.DefaultLiveConfig()
	lc.Interface = wire.Host
	lc.Workers = 2
	lc.Filter = "tcp"
	calls, sum := runLive(t, lc, nil, func(s *sensor.Sensor) (uint64, error) {
		if err := wire.Replay(paths[0]); err != nil {
			return 0, err
		}
		if err := wire.SetHost(false); err != nil {
			return 0, err
		}
		// Down for longer than a poll: each socket's poll sees it.
		time.Sleep(500 * time.Millisecond)
		if err := wire.SetHost(true); err != nil {
			return 0, err
		}
		for deadline := time.Now().Add(5 * time.Second); s.Progress().LinkDowns < 1 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		return offPackets, wire.Replay(paths[1])
	})
	if sum.InputError != "" || sum.LinkDowns != 1 || sum.Packets != offPackets {
		t.Errorf("input error %q, %d link downs (want 1), %d packets (want %d)", sum.InputError, sum.LinkDowns, sum.Packets, offPackets)
	}
	diffKeys(t, callKeys(calls), callKeys(offline))
}

// An interface removed under live capture ends it with an error naming
// the interface, not with a capture that silently reads nothing: removed
// while up, or taken down first (the socket then gets no second error).
func TestLiveInterfaceRemoved(t *testing.T) {
	for _, downFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("down-first=%v", downFirst), func(t *testing.T) {
			wire := netnstest.New(t)
			lc := capture.DefaultLiveConfig()
			lc.Interface = wire.Host
			cfg := testConfig()
			cfg.Live = &lc
			s, err := sensor.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan sensor.Summary, 1)
			go func() {
				sum, err := s.Run(t.Context(), &memSink{})
				if err != nil {
					t.Error(err)
				}
				done <- sum
			}()
			<-s.Ready()
			if downFirst {
				if err := wire.SetHost(false); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(5 * time.Second); s.Progress().LinkDowns == 0; time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the link went down unnoticed")
					}
				}
			}
			if err := wire.RemoveHost(); err != nil {
				t.Fatal(err)
			}
			select {
			case sum := <-done:
				if !strings.Contains(sum.InputError, "interface "+wire.Host+" was removed") {
					t.Errorf("input error %q", sum.InputError)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("capture went on after its interface was removed")
			}
		})
	}
}
