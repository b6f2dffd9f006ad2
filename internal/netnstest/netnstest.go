// Package netnstest gives live-capture tests a private wire: a veth pair
// whose far end lives in a network namespace the test creates, and a way to
// replay a pcap onto it with tcpreplay; a tun device in a namespace of its
// own to write IP packets into; or a namespace with only its loopback, for
// real kernel TCP between a server and a client the test runs. Traffic
// never leaves the pair or the namespace.
package netnstest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

var seq atomic.Int32

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Wire is one veth pair: capture on Host, replay into Peer (in Netns).
type Wire struct {
	Host, Peer, Netns string
}

// New creates the namespace and the veth pair, removed in t.Cleanup. It
// skips the test, with a message saying what is missing, when not root or
// when ip/tcpreplay are not installed.
func New(t testing.TB) *Wire {
	t.Helper()
	id, netns := newNetns(t, "a veth pair", "tcpreplay")
	w := &Wire{Netns: netns, Host: "apsh" + id, Peer: "apsp" + id}
	if err := run("ip", "link", "add", w.Host, "type", "veth", "peer", "name", w.Peer, "netns", w.Netns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run("ip", "link", "del", w.Host) })
	// No IPv6 autoconfiguration chatter on the capture end.
	os.WriteFile("/proc/sys/net/ipv6/conf/"+w.Host+"/disable_ipv6", []byte("1"), 0o644)
	for _, c := range [][]string{{"ip", "link", "set", w.Host, "up"}, {"ip", "netns", "exec", w.Netns, "ip", "link", "set", w.Peer, "up"}} {
		if err := run(c...); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// newNetns creates a network namespace for a live-capture test, removed
// in t.Cleanup, and returns it with the id that names the test's
// interfaces. It skips the test, saying what is missing, when not root or
// when ip or one of tools is not installed; what names what the test
// creates besides the namespace.
func newNetns(t testing.TB, what string, tools ...string) (id, netns string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("live capture test needs root: it creates a network namespace and %s and opens AF_PACKET sockets", what)
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("live capture test needs %q (apt-get install iproute2 tcpreplay): %v", tool, err)
		}
	}
	// The whole pid and a separator: two test binaries run at once (go
	// test runs packages in parallel), and "aptun"+id must stay within
	// IFNAMSIZ-1 = 15 bytes (pid_max is at most 7 digits).
	id = fmt.Sprintf("%dx%d", os.Getpid(), seq.Add(1))
	netns = "apisensor-test-" + id
	if err := run("ip", "netns", "add", netns); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { run("ip", "netns", "del", netns) })
	return id, netns
}

// SetHost brings the capture end down or up, as a link flap or
// `ip link set down` does.
func (w *Wire) SetHost(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run("ip", "link", "set", w.Host, state)
}

// RemoveHost deletes the pair, as when a pod and its veth go away.
func (w *Wire) RemoveHost() error { return run("ip", "link", "del", w.Host) }

// Replay sends the pcap at path into the peer end at top speed.
func (w *Wire) Replay(path string) error {
	return run(w.replayArgs(path, "-t")...)
}

// Start begins sending the pcap at path into the peer end with the given
// tcpreplay rate option (e.g. "--pps=20000") and returns at once; wait
// waits for the replay to end. A replay still running when the test ends
// is killed.
func (w *Wire) Start(t testing.TB, path, rate string) (wait func() error) {
	t.Helper()
	args := w.replayArgs(path, rate)
	cmd := exec.Command(args[0], args[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	var once sync.Once
	var werr error
	wait = func() error {
		once.Do(func() {
			if err := cmd.Wait(); err != nil {
				werr = fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out.String())
			}
		})
		return werr
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		wait()
	})
	return wait
}

func (w *Wire) replayArgs(path, rate string) []string {
	return []string{"ip", "netns", "exec", w.Netns, "tcpreplay", "-q", rate, "-i", w.Peer, path}
}

// Tun is a tun device in a network namespace of its own: an interface whose
// packets start at the IP header, as WireGuard, IPIP (Calico's tunl0) and
// other tunnels look to AF_PACKET. Packets written to it arrive as
// received; nothing leaves the namespace, which has no other interface.
type Tun struct {
	Name, Netns string
	fd          int
}

// NewTun creates the namespace and the tun device in it, up, removed in
// t.Cleanup. It skips the test as New does when it cannot.
func NewTun(t testing.TB) *Tun {
	t.Helper()
	id, netns := newNetns(t, "a tun device")
	w := &Tun{Netns: netns, Name: "aptun" + id, fd: -1}
	err := w.Do(func() error {
		// The device belongs to the namespace of the thread that opens
		// /dev/net/tun.
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(w.Name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", w.Name, err)
		}
		w.fd = fd
		// No IPv6 autoconfiguration chatter (this thread's /proc/sys/net
		// is the namespace's).
		os.WriteFile("/proc/sys/net/ipv6/conf/"+w.Name+"/disable_ipv6", []byte("1"), 0o644)
		return nil
	})
	if err != nil {
		t.Skipf("cannot create a tun device here: %v", err)
	}
	t.Cleanup(func() { unix.Close(w.fd) })
	if err := run("ip", "-n", w.Netns, "link", "set", w.Name, "up"); err != nil {
		t.Fatal(err)
	}
	return w
}

// Do runs fn on an OS thread inside the tun's namespace (see doIn).
func (w *Tun) Do(fn func() error) error { return doIn(w.Netns, fn) }

// doIn runs fn on an OS thread inside namespace netns and returns its
// error: sockets fn opens (AF_PACKET, netlink, TCP listeners and
// connections) live in that namespace. The thread is discarded afterwards
// rather than returned to the runtime.
func doIn(netns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := os.Open("/run/netns/" + netns)
		if err != nil {
			done <- err
			return
		}
		err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
		ns.Close()
		if err != nil {
			done <- fmt.Errorf("setns %s: %w", netns, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// Loopback is a network namespace whose only interface is its loopback,
// up: a server and a client started in it (Do) talk real kernel TCP over
// "lo", which nothing else uses.
type Loopback struct {
	Netns string
}

// NewLoopback creates the namespace, removed in t.Cleanup, and brings its
// loopback up. It skips the test as New does when it cannot.
func NewLoopback(t testing.TB) *Loopback {
	t.Helper()
	_, netns := newNetns(t, "its loopback traffic")
	if err := run("ip", "-n", netns, "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	return &Loopback{Netns: netns}
}

// Do runs fn on an OS thread inside the namespace (see doIn).
func (l *Loopback) Do(fn func() error) error { return doIn(l.Netns, fn) }

// SentPackets is the namespace's count of packets sent on lo: each is one
// packet a capture on lo should see.
func (l *Loopback) SentPackets() (uint64, error) {
	var n uint64
	err := l.Do(func() error {
		// /proc/thread-self/net is the calling thread's namespace's.
		b, err := os.ReadFile("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, rest, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(name) != "lo" {
				continue
			}
			// Receive: bytes packets errs drop fifo frame compressed
			// multicast; then transmit: bytes packets ...
			f := strings.Fields(rest)
			if len(f) < 10 {
				break
			}
			n, err = strconv.ParseUint(f[9], 10, 64)
			return err
		}
		return fmt.Errorf("no lo line in /proc/thread-self/net/dev of %s", l.Netns)
	})
	return n, err
}

// Replay writes the IP packets of the Ethernet pcap at path into the tun
// at top speed, each arriving as received on it.
func (w *Tun) Replay(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return fmt.Errorf("%s: link type %v, want Ethernet", path, r.LinkType())
	}
	for {
		data, _, err := r.ZeroCopyReadPacketData()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(data) < 14 {
			continue
		}
		if _, err := unix.Write(w.fd, data[14:]); err != nil {
			return fmt.Errorf("write to %s: %w", w.Name, err)
		}
	}
}
