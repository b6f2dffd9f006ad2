package reassembly

import (
	"net/netip"
	"testing"
	"time"

	"github.com/apisensor/apisensor/capture"
	"github.com/apisensor/apisensor/model"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	gpreasm "github.com/gopacket/gopacket/reassembly"
)

// nopStream consumes bytes the way a parser would see them, without work.
type nopStream struct{ n int }

func (s *nopStream) Data(_ model.Direction, b []byte, _ time.Time) { s.n += len(b) }
func (s *nopStream) Gap(model.Direction, int, time.Time)           {}
func (s *nopStream) Close(time.Time)                               {}

type nopFactory struct{ s nopStream }

func (f *nopFactory) NewStream(model.ConnMeta) Stream { return &f.s }

const benchSeg = 1460

// BenchmarkInOrder: one connection, full-size in-order segments (the
// steady state of a bulk transfer). Must be 0 allocs/op.
func BenchmarkInOrder(b *testing.B) {
	a := New(DefaultConfig(), &nopFactory{})
	payload := make([]byte, benchSeg)
	d := pkt(cliAddr, srvAddr, 1000, 1, fS, nil, t0)
	a.Packet(d)
	d.Flags = fA
	d.Seq++
	b.ReportAllocs()
	b.SetBytes(benchSeg)
	b.ResetTimer()
	for range b.N {
		d.Payload = payload
		a.Packet(d)
		d.Seq += benchSeg
	}
}

// BenchmarkInOrderManyConns: 1024 connections interleaved round-robin, all
// on ports 40000/80 (clients differ by address), so they share one recent
// slot: every packet misses it and pays the map lookup.
func BenchmarkInOrderManyConns(b *testing.B) {
	const n = 1024
	a := New(DefaultConfig(), &nopFactory{})
	payload := make([]byte, benchSeg)
	ds := make([]*capture.Decoded, n)
	for i := range ds {
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000)
		ds[i] = pkt(cli, srvAddr, 1000, 1, fS, nil, t0)
		a.Packet(ds[i])
		ds[i].Flags = fA
		ds[i].Seq++
		ds[i].Payload = payload
	}
	b.ReportAllocs()
	b.SetBytes(benchSeg)
	b.ResetTimer()
	for i := range b.N {
		d := ds[i%n]
		a.Packet(d)
		d.Seq += benchSeg
	}
}

// BenchmarkOutOfOrderPairs: every pair of segments arrives swapped, so half
// the segments are copied into pooled buffers and delivered one packet later.
func BenchmarkOutOfOrderPairs(b *testing.B) {
	a := New(DefaultConfig(), &nopFactory{})
	payload := make([]byte, benchSeg)
	d := pkt(cliAddr, srvAddr, 1000, 1, fS, nil, t0)
	a.Packet(d)
	d.Flags = fA
	base := uint32(1001)
	b.ReportAllocs()
	b.SetBytes(benchSeg)
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			d.Seq = base + benchSeg
		} else {
			d.Seq = base
			base += 2 * benchSeg
		}
		d.Payload = payload
		a.Packet(d)
	}
}

type gpStream struct{ n int }

func (s *gpStream) Accept(*layers.TCP, gopacket.CaptureInfo, gpreasm.TCPFlowDirection, gpreasm.Sequence, *bool, gpreasm.AssemblerContext) bool {
	return true
}

func (s *gpStream) ReassembledSG(sg gpreasm.ScatterGather, _ gpreasm.AssemblerContext) {
	l, _ := sg.Lengths()
	s.n += len(sg.Fetch(l))
}

func (s *gpStream) ReassemblyComplete(gpreasm.AssemblerContext) bool { return true }

type gpFactory struct{ s gpStream }

func (f *gpFactory) New(_, _ gopacket.Flow, _ *layers.TCP, _ gpreasm.AssemblerContext) gpreasm.Stream {
	return &f.s
}

type gpCtx gopacket.CaptureInfo

func (c *gpCtx) GetCaptureInfo() gopacket.CaptureInfo { return gopacket.CaptureInfo(*c) }

// BenchmarkGopacketReassembly feeds the same segment stream as
// BenchmarkInOrder through github.com/gopacket/gopacket/reassembly, for the
// comparison recorded at the top of assembler.go.
func BenchmarkGopacketReassembly(b *testing.B) {
	f := &gpFactory{}
	asm := gpreasm.NewAssembler(gpreasm.NewStreamPool(f))
	net := gopacket.NewFlow(layers.EndpointIPv4, cliAddr.Addr().AsSlice(), srvAddr.Addr().AsSlice())
	ctx := &gpCtx{Timestamp: t0}
	payload := make([]byte, benchSeg)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(cliAddr.Port()), DstPort: layers.TCPPort(srvAddr.Port()), Seq: 1000, SYN: true}
	asm.AssembleWithContext(net, tcp, ctx)
	tcp.SYN, tcp.ACK = false, true
	tcp.Seq++
	b.ReportAllocs()
	b.SetBytes(benchSeg)
	b.ResetTimer()
	for range b.N {
		tcp.Payload = payload
		asm.AssembleWithContext(net, tcp, ctx)
		tcp.Seq += benchSeg
	}
	b.StopTimer()
	if f.s.n != b.N*benchSeg {
		b.Fatalf("gopacket delivered %d of %d bytes", f.s.n, b.N*benchSeg)
	}
}

// BenchmarkGopacketReassemblyManyConns is BenchmarkInOrderManyConns through
// gopacket's assembler.
func BenchmarkGopacketReassemblyManyConns(b *testing.B) {
	const n = 1024
	f := &gpFactory{}
	asm := gpreasm.NewAssembler(gpreasm.NewStreamPool(f))
	ctx := &gpCtx{Timestamp: t0}
	payload := make([]byte, benchSeg)
	nets := make([]gopacket.Flow, n)
	tcps := make([]*layers.TCP, n)
	for i := range n {
		nets[i] = gopacket.NewFlow(layers.EndpointIPv4, []byte{10, 0, byte(i >> 8), byte(i)}, srvAddr.Addr().AsSlice())
		tcps[i] = &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, SYN: true}
		asm.AssembleWithContext(nets[i], tcps[i], ctx)
		tcps[i].SYN, tcps[i].ACK = false, true
		tcps[i].Seq++
	}
	b.ReportAllocs()
	b.SetBytes(benchSeg)
	b.ResetTimer()
	for i := range b.N {
		t := tcps[i%n]
		t.Payload = payload
		asm.AssembleWithContext(nets[i%n], t, ctx)
		t.Seq += benchSeg
	}
}

// BenchmarkOutOfOrderReverseTiny is the adversarial case: 8-byte segments
// arriving in reverse order behind a hole that never fills, so each one is
// inserted at the front of a queue up to MaxSegmentsPerConn long, and the
// segment cap keeps forcing gaps.
func BenchmarkOutOfOrderReverseTiny(b *testing.B) {
	a := New(DefaultConfig(), &nopFactory{})
	payload := make([]byte, 8)
	d := pkt(cliAddr, srvAddr, 1000, 1, fS, nil, t0)
	a.Packet(d)
	d.Flags = fP
	const run = 4096 // segments per reverse run
	base := uint32(1001) + 8
	b.ReportAllocs()
	b.SetBytes(8)
	b.ResetTimer()
	for i := range b.N {
		k := i % run
		if k == 0 {
			base += (run + 1) * 8
		}
		d.Seq = base + uint32(run-1-k)*8
		d.Payload = payload
		a.Packet(d)
	}
}
