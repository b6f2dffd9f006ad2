package sensor

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/apisensor/apisensor/capture"
)

// fileFilter applies a --filter expression to packets read from files, the
// way tcpdump -r does. The program is compiled for Ethernet framing, so it
// runs on Ethernet frames (link type 1) only; frames of other link types
// pass unfiltered.
type fileFilter struct {
	vm      *bpf.VM
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
	return &fileFilter{vm: vm}, nil
}

// keep reports whether p passes the filter.
func (f *fileFilter) keep(p *capture.Packet) bool {
	if f == nil {
		return true
	}
	if p.LinkType != capture.LinkEthernet {
		return true
	}
	n, err := f.vm.Run(p.Data)
	if err != nil || n == 0 {
		f.dropped++
		return false
	}
	return true
}
