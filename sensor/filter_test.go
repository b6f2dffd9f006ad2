package sensor_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/internal/gen"
	"github.com/apisensor/apisensor/model"
)

// linkHeader is the link header a frame of link type lt carries before an
// IP packet with EtherType et.
func linkHeader(lt layers.LinkType, et uint16) []byte {
	v6 := et == capture.EtherTypeIPv6
	switch lt {
	case layers.LinkTypeLinuxSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], et)
		return h
	case layers.LinkType(capture.LinkSLL2):
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], et)
		binary.BigEndian.PutUint32(h[4:], 3) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		return h
	case layers.LinkTypeRaw:
		return nil
	case layers.LinkTypeNull:
		if v6 {
			return []byte{30, 0, 0, 0} // AF_INET6 as Darwin numbers it, host order
		}
		return []byte{2, 0, 0, 0}
	case layers.LinkTypePPP:
		if v6 {
			return []byte{0xff, 0x03, 0x00, 0x57}
		}
		return []byte{0xff, 0x03, 0x00, 0x21}
	}
	panic(fmt.Sprint("no header for link type ", lt))
}

// relink writes the Ethernet capture src to dst with link type lt: each
// frame's Ethernet header replaced by lt's.
func relink(t *testing.T, src, dst string, lt layers.LinkType) {
	t.Helper()
	copyCapture(t, src, dst, func(snap uint32, _ layers.LinkType) (uint32, layers.LinkType) { return snap, lt },
		func(data []byte, ci *gopacket.CaptureInfo) []byte {
			out := slices.Concat(linkHeader(lt, binary.BigEndian.Uint16(data[12:14])), data[14:])
			ci.CaptureLength = len(out)
			ci.Length += len(out) - len(data)
			return out
		})
}

// A --filter expression on a file selects the same packets whatever the
// link type: the calls to port 80 of the generated capture (its servers
// also listen on 8080), the same calls and the same filtered count from
// Ethernet, Linux cooked v1 and v2, raw IP, BSD loopback and PPP framing.
func TestFileFilterEveryLinkType(t *testing.T) {
	dir := t.TempDir()
	gc := gen.DefaultAPIConfig()
	gc.Packets = 6000
	gc.Clients = 8
	eth, truth := writeAPICapture(t, dir, gc)
	want := truthKeys(slices.DeleteFunc(slices.Clone(truth), func(tx gen.Transaction) bool { return tx.Dst.Port() != 80 }))
	if len(want) == 0 || len(want) == len(truth) {
		t.Fatalf("%d of %d transactions go to port 80: the filter would test nothing", len(want), len(truth))
	}
	run := func(path, filter string) ([]*model.Call, uint64) {
		cfg := testConfig()
		cfg.Files = []string{path}
		cfg.FileFilter = filter
		calls, sum := runCapture(t, cfg)
		return calls, sum.Filtered
	}
	calls, filtered := run(eth, "tcp port 80")
	diffKeys(t, callKeys(calls), want)
	if filtered == 0 {
		t.Fatal("nothing filtered")
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeLinuxSLL, layers.LinkType(capture.LinkSLL2), layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypePPP} {
		t.Run(lt.String(), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("api-%d.pcap", lt))
			relink(t, eth, path, lt)
			all, _ := run(path, "")
			diffKeys(t, callKeys(all), truthKeys(truth))
			got, n := run(path, "tcp port 80")
			diffKeys(t, callKeys(got), want)
			if n != filtered {
				t.Errorf("%d packets filtered, %d from the Ethernet capture", n, filtered)
			}
		})
	}
	// A raw program runs on the frames as captured: compiled for raw IP
	// (`tcpdump -ddd -y RAW 'ip[9] = 6 and ip[22:2] = 80 or ...'` written
	// by hand: IPv4, TCP, destination port 80 with a 20-byte IP header,
	// or source port 80 for the responses), it selects the same calls
	// from the raw-IP file.
	raw := filepath.Join(dir, "api-raw.pcap")
	relink(t, eth, raw, layers.LinkTypeRaw)
	prog := "8,48 0 0 9,21 0 5 6,40 0 0 22,21 2 0 80,40 0 0 20,21 0 1 80,6 0 0 262144,6 0 0 0"
	got, n := run(raw, prog)
	diffKeys(t, callKeys(got), want)
	if n != filtered {
		t.Errorf("raw program: %d packets filtered, the expression %d", n, filtered)
	}
}
