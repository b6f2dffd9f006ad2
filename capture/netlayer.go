package capture

import "encoding/binary"

// EtherTypes of the network layers NetworkLayer reports.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeMPLS uint16 = 0x8847
)

// NetworkLayer says where the network-layer packet of a frame of link type
// lt starts and which EtherType names it, read from the link header by the
// code Decode uses (linkHeader). ok is false for an unknown link type, a
// frame too short for its link header, or a link header naming no protocol
// (a PPP or loopback frame that carries neither IP nor MPLS).
//
// It lets a filter compiled for Ethernet frames (offsets from a 14-byte
// Ethernet header) run on any link type: put a 14-byte header with this
// EtherType before b[off:]. An Ethernet frame is reported as it is (off 14,
// its outer EtherType, VLAN tags not unwrapped), as tcpdump's filters see
// it.
func NetworkLayer(lt uint16, b []byte) (etherType uint16, off int, ok bool) {
	if lt == LinkEthernet {
		if len(b) < 14 {
			return 0, 0, false
		}
		return binary.BigEndian.Uint16(b[12:14]), 14, true
	}
	etherType, off, r, known := linkHeader(lt, b)
	return etherType, off, known && r == resOK
}
