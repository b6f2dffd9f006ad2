// Package parser turns the reassembled byte streams of TCP connections into
// HTTP/1.x transactions (model.Call), and derives each request's principal.
//
// # Input
//
// A Parser (one per worker goroutine) makes one Conn per connection with
// NewConn. A Conn implements reassembly.Stream structurally: Data delivers
// in-order bytes of one direction in arbitrary splits, Gap reports a hole,
// Close ends the connection. b passed to Data is only read during the call;
// what is kept is copied. The package imports neither capture nor
// reassembly.
//
// Roles are decided by content, on any port: a direction starting with a
// request line (token SP target [SP HTTP/1.x]) is the client, one starting
// with "HTTP/1." the server. When the reassembler's guess is backwards
// (mid-stream pickup) the roles swap and Call.Src/Dst are the real client and
// server. A connection whose first bytes are neither is abandoned at once
// (Stats.AbandonedConns) and costs nothing afterwards; one that opens as
// HTTP/2 (the client preface, or the server's SETTINGS) is left alone the
// same way and counted as Stats.HTTP2.
//
// # Output
//
// Finished transactions go to the Sink in request order, one *model.Call
// each; the Sink owns the Call (and every slice and string in it) from then
// on. Requests without a response are emitted at Close with FlagNoResponse;
// responses without a request with FlagNoRequest (Method ""). Choices the
// spec leaves open:
//   - A status code that is not three digits ("2XX") sets Status 0 and
//     StatusText to the code as sent; the message is framed as a final
//     response (body by Content-Length/chunked/close).
//   - 1xx responses other than 101 are interim: codes go to Call.Interim
//     (at most 16), FlagInterim is set, the wait goes on. A 101 ends HTTP
//     parsing (FlagUpgrade) only when the request carried an Upgrade header;
//     an unsolicited 101 (an evasion) is read as a final response.
//   - CONNECT answered 2xx sets FlagConnect; the first tunnelled bytes of
//     each side are classified: HTTP goes on being parsed, anything else
//     (TLS) stops the direction.
//   - "GET /x" with no version and no header lines, answered by the server
//     or ended by Close, is HTTP/0.9 (Proto "HTTP/0.9", FlagHTTP09, the
//     response is the raw bytes to close, Status 0). Followed by header lines
//     it is recorded as Proto "HTTP/1.0". Only GET may omit the version.
//   - Host: the absolute-form target's authority wins over the Host header
//     (RFC 9112 §3.2.2), else Host, else a CONNECT authority; lowercased,
//     port and trailing dot removed, IPv6 brackets kept.
//   - Chunked trailers are appended to ReqHeaders/RespHeaders after the
//     header fields.
//   - Transfer-Encoding with Content-Length: TE wins, FlagAmbiguousLength.
//     Differing Content-Lengths: FlagAmbiguousLength; a request then ends
//     without body and the direction resyncs, a response is read to close.
//   - Secrets are redacted in stored headers and URI/Query (principal.go).
//   - Methods must be letters, '-' or '_' (stricter than an RFC token): all
//     registered methods fit, while "GET%00" or digits are not taken for
//     HTTP (Suricata detects HTTP by method the same way).
//   - A header block cut off by Close (capture ended mid-headers) or by a
//     gap (a snap length, a lost segment) is still recorded with the start
//     line and the complete field lines seen, flagged FlagReqGap or
//     FlagRespGap; after a gap the direction then resyncs, since the
//     framing fields may be among the lost ones. A start line found while
//     resyncing must also show a well-formed field line before the hole
//     (its first line alone could be text quoted in a body). A gap inside
//     the start line loses the message; "GET /x" and its line end, then a
//     gap, is HTTP/0.9, as at a close.
//   - Bytes a gap left unseen in a body are counted in Body.Bytes (so it is
//     the message length, as http.length in Suricata) but Data stops at the
//     hole.
//
// Gaps inside a body of known length (Content-Length or the current chunk)
// only consume body bytes: Bytes counts them, Data stops at the hole,
// Truncated and FlagReqGap/FlagRespGap are set, and parsing goes on exactly.
// Any other gap makes the direction resync: bytes are discarded until a
// line start that begins a plausible message ("METHOD target HTTP/1.x" or
// "HTTP/1.x DDD"); no byte across a hole is ever parsed into a message. The
// first response found after a resync is paired by pairAfterResync's rules.
//
// # Memory
//
// Per Conn: one header accumulation buffer of at most MaxHeaderBytes (only
// when a header block spans Data calls; a block inside one Data call is
// parsed in place), at most MaxPipeline waiting requests, and per direction
// at most one body buffer of MaxBody bytes. Bodies with a known small
// Content-Length are allocated once at the exact size and handed to the
// Call; bodies of unknown length use buffers from a sync.Pool and are copied
// into a right-sized slice at the end of the message, so pooled memory never
// escapes into a Call. A header block costs one string allocation (all
// fields are substrings of it); a Content-Length body that will be kept is
// allocated with it (the string and Body.Data cover disjoint parts). The
// string leaves out the credential of a request's first Authorization field
// (the stored field keeps only the scheme; a bearer JWT was most of a
// request head) when it is long enough for that to save memory. A header
// block that spanned Data calls is parsed the same way once complete. A
// request's Call is allocated together with the backing array of its
// ReqHeaders and room for the response's RespHeaders (as many as the
// connection's last response had; see callSlab.alloc), so a request/response
// pair with a small body costs three allocations.
//
// With Config.RecycleStrings those strings and bodies are carved from
// per-Parser 64 KiB chunks instead (arena.go), reused once every Call
// holding a piece of a chunk has been Recycled: a calls-only run then
// allocates nothing for a typical exchange (redaction rewrites such as
// Set-Cookie's or a query API key's, an upper-case Host, obs-fold lines,
// 1xx codes and trailers still allocate). Config.SkipBodies keeps no body
// byte at all, only the counts.
//
// Each Conn also keeps a copy of its last request's field section (at most
// 4 KiB) and its fields (reqSection): a request repeating it byte for byte,
// as keep-alive clients do, gets copies of those fields, whose strings are
// shared with the earlier Calls and point into the cache's own copy of the
// section (strings are immutable, so every Call still owns what it holds),
// and its own string holds the request line only.
//
// # Errors
//
// Malformed input never panics and never stops the Parser: each problem is
// counted by Reason in Stats, and the direction resyncs or is abandoned.
package parser
