// Package sensor wires the stages: packet sources → decoder → flow-sharded
// workers (TCP reassembly + HTTP parsing) → one output goroutine (discovery,
// sinks).
//
// Threads and ownership:
//   - one reader goroutine per source decodes packets, copies each TCP
//     payload into a per-worker batch arena and shards by the symmetric flow
//     hash, so both directions of a connection land on the same worker;
//   - each worker owns its reassembler and parser (no locks, no goroutine
//     per connection) and returns the calls a batch produced, tagged with
//     the index of the packet that completed them;
//   - the output goroutine (Run's caller goroutine) merges worker results
//     batch by batch in input order, runs discovery and writes the sinks;
//     with a storage.Files sink the workers already encoded each call's
//     calls.jsonl line, and the output goroutine only splices in the
//     template discovery assigned.
//
// Inline: one worker reading files on one CPU (Config.Inline) needs none of
// the above. Run's goroutine then reads, reassembles and parses each packet
// in place (no arena copy) and, at the same batch boundaries, ticks the
// worker and emits the batch's calls, so the output is the same.
//
// Determinism: in file mode every worker receives every batch (possibly
// empty), idle timeouts run at batch boundaries on packet time, and the
// merge orders calls by (completing packet, request time, src, dst,
// tunnel), so the same capture gives byte-identical output, whatever the
// worker count.
//
// Memory: queues are bounded (QueueDepth batches per worker, BatchSize
// packets a batch); a batch's arena is reused once its worker is done with
// it. In file mode a full queue blocks the reader (nothing is lost); in live
// mode backpressure reaches the kernel ring, whose drops are read from the
// kernel and reported.
package sensor
