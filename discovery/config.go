package discovery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apisensor/apisensor/model"
)

// SpecInput names one spec file and, optionally, the host it applies to.
// Host "" means: the hosts named by the spec's servers (3.x) or host (2.0);
// a spec that names no host applies to every host.
type SpecInput struct {
	Host string
	Path string
}

// ParseSpecArg parses a --spec argument: "file" or "host=file".
func ParseSpecArg(s string) (SpecInput, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return SpecInput{}, errors.New("parse --spec: empty argument")
	}
	// A Windows-style or URL path has no '=' before its first '/', so only a
	// '=' that comes before any path separator splits host from file.
	if i := strings.IndexByte(s, '='); i >= 0 && !strings.ContainsAny(s[:i], "/\\") {
		host, path := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		if host == "" || path == "" {
			return SpecInput{}, fmt.Errorf("parse --spec %q: want host=file", s)
		}
		return SpecInput{Host: model.NormHost(host), Path: path}, nil
	}
	return SpecInput{Path: s}, nil
}

// Config tunes the inventory. Zero values are not defaults: start from
// DefaultConfig.
type Config struct {
	Specs []SpecInput

	MaxHosts            int // hosts tracked; the least recently seen tenth is evicted at the cap
	MaxEndpointsPerHost int // endpoints per host, same eviction
	MaxEndpoints        int // endpoints over all hosts, same eviction
	MaxNodesPerHost     int // template-tree nodes per host; at the cap new words become parameters
	MaxLiteralChildren  int // literal values one path position keeps before it must be a parameter (RPC-style APIs have hundreds: Slack's /api/{method})

	// SiblingThreshold is the number of distinct literal values at one path
	// position (under a common prefix) above which the position may become
	// a parameter, when the values also look like data (see SiblingMinRatio
	// and response shapes).
	SiblingThreshold int
	// SiblingMinRatio is the minimum ratio of distinct values to calls
	// through the position: resource names are few and hit often, ids and
	// slugs are many and each hit a few times.
	SiblingMinRatio float64

	SampleFirst int   // bodies parsed/scanned for the first N calls of an endpoint
	SampleEvery int64 // then one call in N
	ScanBytes   int   // bytes of a body parsed or scanned for sensitive data

	MaxSetItems     int // cap of each per-endpoint name set (query names, body keys, ...)
	MaxSchemaProps  int // properties kept per object in a merged schema
	MaxSchemaDepth  int // nesting depth kept in a merged schema
	MaxFindingIPs   int // client IPs remembered per finding
	MaxFindings     int // findings kept; beyond it new findings are counted and dropped
	LatencyAccuracy float64
	LatencyMaxBins  int
}

// DefaultConfig returns the settings the sensor ships with.
func DefaultConfig() Config {
	return Config{
		MaxHosts:            1000,
		MaxEndpointsPerHost: 5000,
		MaxEndpoints:        50000,
		MaxNodesPerHost:     20000,
		MaxLiteralChildren:  512,
		SiblingThreshold:    8,
		SiblingMinRatio:     0.25,
		SampleFirst:         32,
		SampleEvery:         64,
		ScanBytes:           64 << 10,
		MaxSetItems:         64,
		MaxSchemaProps:      64,
		MaxSchemaDepth:      6,
		MaxFindingIPs:       16,
		MaxFindings:         100000,
		LatencyAccuracy:     0.02,
		LatencyMaxBins:      256,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	checks := []struct {
		ok   bool
		what string
	}{
		{c.MaxHosts > 0, "MaxHosts must be > 0"},
		{c.MaxEndpointsPerHost > 0, "MaxEndpointsPerHost must be > 0"},
		{c.MaxEndpoints > 0, "MaxEndpoints must be > 0"},
		{c.MaxNodesPerHost >= 16, "MaxNodesPerHost must be >= 16"},
		{c.MaxLiteralChildren > 0, "MaxLiteralChildren must be > 0"},
		{c.SiblingThreshold >= 2, "SiblingThreshold must be >= 2"},
		{c.SiblingThreshold <= c.MaxLiteralChildren, "SiblingThreshold must be <= MaxLiteralChildren"},
		{c.SiblingMinRatio >= 0 && c.SiblingMinRatio <= 1, "SiblingMinRatio must be in [0,1]"},
		{c.SampleFirst >= 0, "SampleFirst must be >= 0"},
		{c.SampleEvery > 0, "SampleEvery must be > 0"},
		{c.ScanBytes > 0, "ScanBytes must be > 0"},
		{c.MaxSetItems > 0, "MaxSetItems must be > 0"},
		{c.MaxSchemaProps > 0, "MaxSchemaProps must be > 0"},
		{c.MaxSchemaDepth > 0, "MaxSchemaDepth must be > 0"},
		{c.MaxFindingIPs >= 0, "MaxFindingIPs must be >= 0"},
		{c.MaxFindings > 0, "MaxFindings must be > 0"},
		{c.LatencyAccuracy > 0 && c.LatencyAccuracy < 1, "LatencyAccuracy must be in (0,1)"},
		{c.LatencyMaxBins >= 16, "LatencyMaxBins must be >= 16"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("discovery config: %s", ch.what)
		}
	}
	for i, s := range c.Specs {
		if s.Path == "" {
			return fmt.Errorf("discovery config: spec %d has no file", i)
		}
	}
	return nil
}

// Stats are the inventory's counters.
type Stats struct {
	Hosts             int
	Endpoints         int
	Nodes             int
	Calls             int64 // calls observed
	Ignored           int64 // calls that matched no endpoint and had no real answer (404-only scanners, no response)
	HostEvictions     int64
	EndpointEvictions int64
	Promotions        int64 // path positions that became parameters by sibling statistics
	ForcedParams      int64 // positions made parameters because a cap was reached
	NodeCapDrops      int64 // real answers not filed: their host's tree was full (MaxNodesPerHost) and had no parameter where they went
	Demotions         int64 // promoted positions turned back into literals (their values recurred as names do)
	FindingsDropped   int64
	BodyErrors        int64 // bodies that failed to decode (counted, not fatal)
	CounterResyncs    int64 // endpoint counters found out of step with the tree and corrected (should stay 0)
}
