package gen

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultEpoch is the synthetic start time of every capture: fixed so that the
// same seed always gives the same bytes (never time.Now()).
var DefaultEpoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// Encap is the encapsulation wrapped around every generated frame.
type Encap uint8

const (
	EncapNone    Encap = iota // Ethernet/IPv4/TCP
	EncapVLAN                 // Ethernet/802.1Q(id)/IPv4/TCP
	EncapQinQ                 // Ethernet(0x88a8)/802.1ad(id)/802.1Q(InnerVLAN)/IPv4/TCP
	EncapVXLAN                // outer Ethernet/IPv4/UDP 4789/VXLAN(VNI=id)/inner Ethernet
	EncapGeneve               // outer Ethernet/IPv4/UDP 6081/Geneve(VNI=id)/inner Ethernet
	EncapGRE                  // outer Ethernet/IPv4/GRE(key=id, proto IPv4)/inner IPv4
	EncapERSPAN2              // outer Ethernet/IPv4/GRE(seq, 0x88be)/ERSPAN II(session=id)/inner Ethernet
	EncapERSPAN3              // outer Ethernet/IPv4/GRE(seq, 0x22eb)/ERSPAN III(session=id)/inner Ethernet
	EncapMPLS                 // Ethernet(0x8847)/MPLS(label=id, bottom of stack)/IPv4/TCP
)

var encapNames = [...]string{"none", "vlan", "qinq", "vxlan", "geneve", "gre", "erspan2", "erspan3", "mpls"}

func (e Encap) String() string {
	if int(e) < len(encapNames) {
		return encapNames[e]
	}
	return fmt.Sprintf("encap(%d)", e)
}

// ParseEncap turns a name ("vxlan", "erspan3", ...) into an Encap.
func ParseEncap(s string) (Encap, error) {
	for i, n := range encapNames {
		if strings.EqualFold(n, s) {
			return Encap(i), nil
		}
	}
	return 0, fmt.Errorf("unknown encapsulation %q (want one of %s)", s, strings.Join(encapNames[:], ", "))
}

// maxTunnelID is the largest id each encapsulation's header can carry.
func (e Encap) maxTunnelID() uint32 {
	switch e {
	case EncapVLAN, EncapQinQ:
		return 4094
	case EncapVXLAN, EncapGeneve:
		return 1<<24 - 1
	case EncapGRE:
		return 1<<32 - 1
	case EncapERSPAN2, EncapERSPAN3:
		return 1023
	case EncapMPLS:
		return 1<<20 - 1
	}
	return 0
}

// Config holds the options every generator shares.
type Config struct {
	// Seed drives every random choice: same Seed and options, same bytes.
	Seed uint64
	// Epoch is the timestamp of the first packet. Zero means DefaultEpoch.
	Epoch time.Time
	// Nanos writes a nanosecond-resolution pcap (magic 0xa1b23c4d) instead of
	// microseconds (then times, ground truth included, are truncated to
	// the microsecond).
	Nanos bool
	// Encap wraps every frame; TunnelID is the VLAN id, VNI, GRE key, ERSPAN
	// session or MPLS label it carries.
	Encap    Encap
	TunnelID uint32
	// InnerVLAN is the customer tag of EncapQinQ (TunnelID is the outer tag).
	InnerVLAN uint16
	// DupTunnelID, when non-zero, writes every frame a second time right
	// after the first, in tunnel DupTunnelID: the same inner 5-tuples then
	// live in two tunnels (overlapping tenant address space), and a sensor
	// must report every transaction twice, once per tunnel. Needs an Encap.
	DupTunnelID uint32
	// Truth receives the ground truth: every HTTP transaction put on the
	// wire, in request order. Nil discards it.
	Truth func(Transaction)
}

// DefaultConfig is seed 1, DefaultEpoch, microsecond pcap, no encapsulation.
func DefaultConfig() Config {
	return Config{Seed: 1, Epoch: DefaultEpoch, TunnelID: 100, InnerVLAN: 200}
}

// Validate checks the options against what the headers can carry.
func (c *Config) Validate() error {
	if int(c.Encap) >= len(encapNames) {
		return fmt.Errorf("gen: unknown encapsulation %d", c.Encap)
	}
	if c.Encap == EncapNone {
		if c.DupTunnelID != 0 {
			return errors.New("gen: DupTunnelID needs an encapsulation that carries a tunnel id")
		}
		return nil
	}
	max := c.Encap.maxTunnelID()
	if c.TunnelID > max || c.DupTunnelID > max {
		return fmt.Errorf("gen: tunnel id %d/%d exceeds %d, the maximum for %s", c.TunnelID, c.DupTunnelID, max, c.Encap)
	}
	if (c.Encap == EncapVLAN || c.Encap == EncapQinQ) && c.TunnelID == 0 {
		return errors.New("gen: VLAN id 0 means untagged; use 1-4094")
	}
	if c.Encap == EncapQinQ && (c.InnerVLAN == 0 || c.InnerVLAN > 4094) {
		return fmt.Errorf("gen: inner VLAN %d out of range 1-4094", c.InnerVLAN)
	}
	if c.DupTunnelID != 0 && c.DupTunnelID == c.TunnelID {
		return errors.New("gen: DupTunnelID must differ from TunnelID")
	}
	return nil
}

func (c *Config) epoch() time.Time {
	if c.Epoch.IsZero() {
		return DefaultEpoch
	}
	return c.Epoch
}
