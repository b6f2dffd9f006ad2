// Package gen writes deterministic pcap captures that exercise apisensor,
// together with their ground truth.
//
// Input: a Config (seed, synthetic epoch, encapsulation) embedded in one
// generator's config: API (keep-alive JSON API traffic, the benchmark
// capture), Demo (the README demo on api.shop.example, matching
// testdata/demo/api.yaml) and Adversarial (half-open flood, out-of-order
// storm, one 1 GiB response). Everything derives from math/rand/v2 PCG
// streams seeded by Config.Seed and timestamps count from Config.Epoch, so
// the same config always gives the same bytes (tests compare sha256).
//
// Output: a classic pcap (LINKTYPE_ETHERNET, µs or ns) written through
// gopacket/pcapgo to an io.Writer, and, through Config.Truth, one
// Transaction per HTTP exchange put on the wire, in wire order of the
// request's first byte, with the fields a sensor's calls.jsonl carries
// (bodies counted after de-chunking). TruthWriter/ReadTruth store it as
// JSON lines.
//
// How: each TCP connection is a small state machine (a script) that queues
// its next few segments with absolute timestamps; an engine merges all
// connections through a min-heap on the next segment's time and serializes
// each one with gopacket (FixLengths, ComputeChecksums), wrapped in the
// configured encapsulation. Frames are built with gopacket rather than by
// hand because it is fast enough and frame building is not where the time
// goes: BenchmarkFrameWrite measures 2.0 µs per full-MSS frame (3.7 µs with
// VXLAN, checksums included) on the shared 2-core box, and a CPU profile of
// BenchmarkAPI puts frame writing at ~23% of API generation, the rest being
// HTTP/JSON content. Whole runs: 500k API packets in ~2 s and the 1 GiB
// adversarial capture (1.3M frames) in ~4.5 s with the box idle.
//
// Ownership and memory: the generator owns every buffer; Truth callbacks get
// a Transaction value they may keep. Memory does not grow with the capture:
// a connection holds at most one exchange (or 256 bulk segments) queued, bulk
// bodies are slices of one shared 64 KiB pattern, and output goes through a
// 1 MiB bufio.Writer. The live state is O(concurrent connections): 64 for
// API; for Adversarial a single connection object is reused for the
// half-open and storm parts, so 100k half-open connections cost nothing.
// Writing the 1 GiB case peaks at ~17 MB RSS.
//
// Not safe for concurrent use; run generators in separate goroutines with
// separate writers if needed.
package gen
