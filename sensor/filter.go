package sensor

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/apisensor/apisensor/capture"
)

// fileFilter applies a --filter expression to packets read from files, the
// way tcpdump -r does. An expression is compiled for Ethernet framing; a
// frame of another link type (Linux cooked, raw IP, loopback, PPP, ...) is
// filtered as its network-layer packet behind a 14-byte Ethernet header
// carrying its EtherType, so `tcp port 80` means the same on every link
// type. A raw BPF program (tcpdump -ddd output) runs on the frames as
// captured: it was compiled for the file's link type.
type fileFilter struct {
	vm      *bpf.VM
	raw     bool   // a raw program: no rewriting of non-Ethernet frames
	buf     []byte // scratch for a non-Ethernet frame behind an Ethernet header
	dropped uint64
}

func newFileFilter(expr string) (*fileFilter, error) {
	if expr == "" {
		return nil, nil
	}
	raw, err := capture.CompileFilter(expr, 0)
	if err != nil {
		return nil, err
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, fmt.Errorf("filter %q: program has instructions the BPF interpreter does not know", expr)
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	return &fileFilter{vm: vm, raw: capture.IsRawBPF(expr)}, nil
}

// keep reports whether p passes the filter. A non-Ethernet frame that
// NetworkLayer cannot place (an unknown link type, a short frame, a PPP or
// loopback frame of another protocol) passes: the decoder cannot decode it
// either, and counts it under its reason (unknown link type, truncated,
// non-IP) rather than as filtered, which would hide a capture it does not
// read.
func (f *fileFilter) keep(p *capture.Packet) bool {
	if f == nil {
		return true
	}
	data := p.Data
	if p.LinkType != capture.LinkEthernet && !f.raw {
		et, off, ok := capture.NetworkLayer(p.LinkType, data)
		if !ok {
			return true
		}
		f.buf = append(f.buf[:0], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(et>>8), byte(et))
		f.buf = append(f.buf, data[off:]...)
		data = f.buf
	}
	n, err := f.vm.Run(data)
	if err != nil || n == 0 {
		f.dropped++
		return false
	}
	return true
}
