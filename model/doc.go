// Package model holds the types passed between the sensor's stages: the
// connection metadata a reassembler hands to a parser (ConnMeta), the HTTP
// transaction a parser emits (Call), the inventory entry discovery keeps
// (Endpoint) and the abuse or posture report detectors and discovery return
// (Finding).
//
// It is a leaf: standard library only. Values here are owned by whoever holds
// them; a stage that passes a *Call on must not touch it afterwards.
package model
