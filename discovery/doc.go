// Package discovery learns the API inventory from HTTP transactions.
//
// Input: *model.Call values from the parser, in order, from one goroutine
// (the sensor's discovery stage). An Inventory is not safe for concurrent
// use; the pipeline owns it and shards nothing inside it.
//
// What it does with each call:
//   - turns the concrete path into a template per (host, method): typed
//     segments (integers, UUIDs, ULIDs, ObjectIds, hex, tokens, emails, dates,
//     long mixed alphanumerics, random-looking letters with a digit) become
//     parameters at once; word or slug positions become parameters when
//     sibling statistics say so (a HyperLogLog of distinct values, the share
//     of values seen once, response shapes compared per method, sub-paths
//     shared by the values). Such a promotion is provisional: the position
//     counts the values that reach its parameter, and when they recur with
//     stable counts (resource names seen early in a capture do, ids do not)
//     they go back to literals (demotion; the parameter's endpoints, which
//     described no real template, are dropped). A fixed name that turns busy
//     after the promotion is split out the same way (/series/upcoming
//     beside /series/{slug}). One name seen with two format extensions is
//     one segment with a parameter (lists.json, lists.jsonp →
//     lists.{format});
//   - matches the call against the imported OpenAPI 3.x / Swagger 2.0 specs
//     of its host and classifies the endpoint: documented, shadow, zombie,
//     unused, or observed (no spec covers the host);
//   - aggregates per endpoint: times, counts, status histogram, latency
//     sketch (DDSketch), content types, query names, JSON keys and a merged
//     JSON schema, auth schemes, sensitive data classes, security headers;
//   - returns discovery findings (shadow_api, zombie_api,
//     unauthenticated_access, data_exposure, weak_auth, insecure_config), one
//     per endpoint and kind, updated in place.
//
// Output: Observe sets Call.Template and returns the findings it created or
// updated (an update is returned when the count reaches a power of two, so a
// busy endpoint yields O(log n) updates, not one per call). Endpoints,
// Findings and OpenAPI return deterministic snapshots; times come from the
// calls, never from the clock.
//
// Ownership: Observe reads the call and writes only Call.Template; it keeps no
// reference to the call or its byte slices (strings it keeps are copied).
// Returned findings and endpoints are copies the caller owns. Scratch that
// Observe reuses from call to call (the fastjson parser holding the parsed
// body, sort and tally buffers) belongs to the Inventory and never reaches a
// returned value; strings the aggregates keep from a body are copied out of
// it.
//
// Memory: hosts (MaxHosts), endpoints per host (MaxEndpointsPerHost) and all
// endpoints (MaxEndpoints) are capped; when a cap is hit the least recently
// seen tenth is evicted and counted in Stats. Template-tree nodes per host
// are capped too (MaxNodesPerHost): at that cap new words become parameters
// (Stats.ForcedParams), nothing is evicted, and a call whose path needs a
// node where not even a parameter exists yet is not filed
// (Stats.NodeCapDrops). A tree position keeps at most MaxLiteralChildren
// literal values before it is forced to become a parameter; a provisional
// position remembers at most MaxLiteralChildren values (then it is
// confirmed), and a host at most MaxNodesPerHost such values over all its
// positions. Every per-endpoint set (statuses, content types, query names,
// body keys, schema properties, client IPs of a finding) is capped. Bodies
// are parsed and scanned only for the first SampleFirst calls of an endpoint
// and then one call in SampleEvery, and at most ScanBytes of each body.
package discovery
