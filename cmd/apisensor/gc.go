package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Garbage-collector defaults for `apisensor run`, used unless the operator
// sets GOGC or GOMEMLIMIT (which always win).
//
// Every call allocates a few KiB that die within a batch, so with Go's
// default GOGC=100 the collector ran ~25 times on the 500k-packet bench
// capture and its work (assists charged to mallocgc included) was ~18% of a
// one-core profile. GOGC=400 cut the full pipeline from 1.118 to 0.925 s
// (best of 5, alternating runs) for peak RSS 56 -> 133 MiB. The soft memory
// limit keeps that trade from growing without bound: near the limit the
// runtime collects as often as it must, whatever GOGC says.
const (
	defaultGCPercent = 400
	// defaultMemLimit is the soft limit's upper bound; a cgroup memory
	// limit lowers it to three quarters of that limit.
	defaultMemLimit = 1 << 30
)

// gcSettings is what applyGCDefaults decided; zero fields were left alone.
type gcSettings struct {
	Percent  int   // 0: GOGC set by the operator
	MemLimit int64 // 0: GOMEMLIMIT set by the operator
}

// chooseGC decides the settings from the environment and the container's
// memory limit (cgroupLimit <= 0: none).
func chooseGC(getenv func(string) string, cgroupLimit int64) gcSettings {
	var g gcSettings
	if getenv("GOGC") == "" {
		g.Percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		g.MemLimit = defaultMemLimit
		if cgroupLimit > 0 {
			// Leave a quarter for what the Go runtime does not manage and
			// the limit does not count: the AF_PACKET rings, the binary,
			// page cache of the outputs.
			g.MemLimit = min(g.MemLimit, cgroupLimit/4*3)
		}
	}
	return g
}

// applyGCDefaults sets the collector up for a sensor run and returns what
// it set.
func applyGCDefaults() gcSettings {
	g := chooseGC(os.Getenv, cgroupMemoryLimit())
	if g.Percent != 0 {
		debug.SetGCPercent(g.Percent)
	}
	if g.MemLimit != 0 {
		debug.SetMemoryLimit(g.MemLimit)
	}
	return g
}

// cgroupMemoryLimit reads the memory limit of the cgroup mounted at
// /sys/fs/cgroup (v2 memory.max, else v1 memory.limit_in_bytes): the
// container's own in a container with a cgroup namespace, as Kubernetes
// runs pods; 0 when there is none.
func cgroupMemoryLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			return parseCgroupLimit(string(b))
		}
	}
	return 0
}

// parseCgroupLimit reads one cgroup limit file's content: "max" (v2) and
// v1's page-rounded MaxInt64 both mean no limit.
func parseCgroupLimit(s string) int64 {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0
	}
	return n
}
