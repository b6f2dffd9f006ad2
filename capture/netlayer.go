package capture

import "encoding/binary"

// EtherTypes of the network layers NetworkLayer reports.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeMPLS uint16 = 0x8847
)

// NetworkLayer says where the network-layer packet of a frame of link type
// lt starts and which EtherType names it, read from the link header the way
// Decode reads it. ok is false for an unknown link type, a frame too short
// for its link header, or a link header naming no protocol (a PPP or
// loopback frame that carries neither IP nor MPLS).
//
// It lets a filter compiled for Ethernet frames (offsets from a 14-byte
// Ethernet header) run on any link type: put a 14-byte header with this
// EtherType before b[off:]. An Ethernet frame is reported as it is (off 14,
// its outer EtherType, VLAN tags not unwrapped), as tcpdump's filters see
// it.
func NetworkLayer(lt uint16, b []byte) (etherType uint16, off int, ok bool) {
	switch lt {
	case LinkEthernet:
		if len(b) < 14 {
			return 0, 0, false
		}
		return binary.BigEndian.Uint16(b[12:14]), 14, true
	case LinkRaw, LinkRaw12, LinkRaw14:
		if len(b) < 1 {
			return 0, 0, false
		}
		switch b[0] >> 4 {
		case 4:
			return EtherTypeIPv4, 0, true
		case 6:
			return EtherTypeIPv6, 0, true
		}
		return 0, 0, false
	case LinkIPv4:
		return EtherTypeIPv4, 0, true
	case LinkIPv6:
		return EtherTypeIPv6, 0, true
	case LinkLinuxSLL:
		if len(b) < 16 {
			return 0, 0, false
		}
		return binary.BigEndian.Uint16(b[14:16]), 16, true
	case LinkSLL2:
		if len(b) < 20 {
			return 0, 0, false
		}
		return binary.BigEndian.Uint16(b[0:2]), 20, true
	case LinkCHDLC:
		if len(b) < 4 {
			return 0, 0, false
		}
		return binary.BigEndian.Uint16(b[2:4]), 4, true
	case LinkNull, LinkLoop:
		if len(b) < 4 {
			return 0, 0, false
		}
		af := binary.BigEndian.Uint32(b[0:4])
		if lt == LinkNull && af > 0xffff {
			af = binary.LittleEndian.Uint32(b[0:4])
		}
		switch af {
		case 2:
			return EtherTypeIPv4, 4, true
		case 10, 24, 28, 30:
			return EtherTypeIPv6, 4, true
		}
		return 0, 0, false
	case LinkPPP, LinkPPPHDLC:
		if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
			off = 2
		}
		if len(b) < off+1 {
			return 0, 0, false
		}
		proto := uint16(b[off])
		if proto&1 == 1 { // protocol field compressed to one byte
			off++
		} else {
			if len(b) < off+2 {
				return 0, 0, false
			}
			proto = binary.BigEndian.Uint16(b[off : off+2])
			off += 2
		}
		switch proto {
		case 0x0021:
			return EtherTypeIPv4, off, true
		case 0x0057:
			return EtherTypeIPv6, off, true
		case 0x0281:
			return EtherTypeMPLS, off, true
		}
	}
	return 0, 0, false
}
