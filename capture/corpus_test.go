package capture

import (
	"encoding/json"
	"errors"
	"github.com/apisensor/apisensor/internal/testcorpus"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCorpusSuricata reads every suricata-verify pcap with OpenFiles and a
// Decoder: no read errors, and each capture yields TCP segments (every
// case is an HTTP test). The HTTP transaction content is the parser's
// business and is checked there.
func TestCorpusSuricata(t *testing.T) {
	root := testcorpus.Suricata(t)
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	linkTypes := map[uint16]int{}
	var total DecodeStats
	n := 0
	for _, de := range dirs {
		if !de.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(root, de.Name(), "expected.json"))
		if err != nil {
			t.Fatal(err)
		}
		var exp struct {
			Pcap string `json:"pcap"`
		}
		if err := json.Unmarshal(raw, &exp); err != nil {
			t.Fatalf("%s: %v", de.Name(), err)
		}
		path := filepath.Join(root, de.Name(), exp.Pcap)
		t.Run(de.Name(), func(t *testing.T) {
			src, err := OpenFiles([]string{path}, DefaultFileConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			dec := NewDecoder(DefaultDecoderConfig())
			var p Packet
			var out Decoded
			tcp := 0
			for {
				err := src.Next(&p)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				linkTypes[p.LinkType]++
				if dec.Decode(&p, &out) && out.Proto == 6 {
					tcp++
				}
			}
			st := dec.Stats()
			if tcp == 0 {
				t.Fatalf("no TCP packets decoded; stats %+v", st)
			}
			if st.UnknownLinkType != 0 || st.Truncated != 0 || st.Malformed != 0 {
				t.Errorf("decode problems: %+v", st)
			}
			if done, total := src.Progress(); done != total || total == 0 {
				t.Errorf("progress %d/%d after EOF", done, total)
			}
			total.Packets += st.Packets
			total.Decoded += st.Decoded
			total.Teredo += st.Teredo
			total.PPPoE += st.PPPoE
			total.VLAN += st.VLAN
			n++
		})
	}
	t.Logf("%d pcaps, link types %v, packets %d decoded %d, teredo %d pppoe %d vlan %d",
		n, linkTypes, total.Packets, total.Decoded, total.Teredo, total.PPPoE, total.VLAN)
	for _, lt := range []uint16{LinkEthernet, LinkNull, LinkLinuxSLL, LinkSLL2, LinkCHDLC} {
		if linkTypes[lt] == 0 {
			t.Errorf("corpus should contain link type %d", lt)
		}
	}
	if total.Teredo == 0 || total.PPPoE == 0 || total.VLAN == 0 {
		t.Errorf("expected Teredo, PPPoE and VLAN packets in the corpus: %+v", total)
	}
}
