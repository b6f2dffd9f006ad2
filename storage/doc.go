// Package storage holds the sensor's sinks. This file set is the default,
// embedded sink: files in a directory (or calls on stdout), so a security
// engineer on a laptop needs no Kafka and no ClickHouse.
//
// Input: *model.Call values in the pipeline's deterministic order, then, once
// at the end of a run, the final inventory, findings and reconstructed
// OpenAPI document. Output: calls.jsonl (one JSON object per line, written
// as calls arrive, buffered), endpoints.json, findings.jsonl and openapi.json.
//
// Ownership and memory: a writer keeps no reference to a Call after
// WriteCall returns; its only buffers are one bufio.Writer and one reused
// line buffer.
package storage
