package reassembly

import (
	"time"

	"github.com/apisensor/apisensor/model"
)

// Stream receives one connection's reassembled bytes. The parser package
// implements it (without importing this package); the sensor wires the two.
//
// All calls for one connection come from one goroutine, in order. b is valid
// only during the call: a Stream that keeps bytes must copy them.
type Stream interface {
	// Data delivers the next in-order bytes of one direction.
	Data(dir model.Direction, b []byte, ts time.Time)
	// Gap reports n bytes of one direction that will never arrive (capture
	// loss, a cap hit, a hole never filled). Data resumes after the hole.
	Gap(dir model.Direction, n int, ts time.Time)
	// Close ends the connection (FIN/RST, idle timeout, eviction, end of
	// input). No call follows.
	Close(ts time.Time)
}

// StreamFactory makes the Stream for a new connection.
type StreamFactory interface {
	NewStream(meta model.ConnMeta) Stream
}
