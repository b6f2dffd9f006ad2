// Package netnstest gives live-capture tests a private wire: a veth pair
// whose far end lives in a network namespace the test creates, and a way to
// replay a pcap onto it with tcpreplay. Traffic never leaves the pair.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
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
	if os.Geteuid() != 0 {
		t.Skip("live capture test needs root: it creates a network namespace and a veth pair and opens AF_PACKET sockets")
	}
	for _, tool := range []string{"ip", "tcpreplay"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("live capture test needs %q (apt-get install iproute2 tcpreplay): %v", tool, err)
		}
	}
	// The whole pid and a separator: two test binaries run at once (go
	// test runs packages in parallel), and "apsh"+id must stay within
	// IFNAMSIZ-1 = 15 bytes (pid_max is at most 7 digits).
	id := fmt.Sprintf("%dx%d", os.Getpid(), seq.Add(1))
	w := &Wire{Netns: "apisensor-test-" + id, Host: "apsh" + id, Peer: "apsp" + id}
	if err := run("ip", "netns", "add", w.Netns); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { run("ip", "netns", "del", w.Netns) })
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
