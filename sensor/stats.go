package sensor

import (
	"reflect"
	"strings"
)

// addStats adds every integer field (recursively through nested structs and
// arrays) of src into dst; both point to the same struct type. The stage
// packages own their counters; the sensor only sums the per-worker copies,
// so a counter added to a stage shows up here without a change. Fields
// named Peak* are combined with max, not summed.
func addStats(dst, src any) {
	addValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem(), false)
}

func addValue(d, s reflect.Value, useMax bool) {
	switch d.Kind() {
	case reflect.Struct:
		t := d.Type()
		for i := 0; i < d.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			name := t.Field(i).Name
			addValue(d.Field(i), s.Field(i), strings.HasPrefix(name, "Peak"))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if useMax {
			d.SetInt(max(d.Int(), s.Int()))
		} else {
			d.SetInt(d.Int() + s.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if useMax {
			d.SetUint(max(d.Uint(), s.Uint()))
		} else {
			d.SetUint(d.Uint() + s.Uint())
		}
	case reflect.Array:
		for i := 0; i < d.Len(); i++ {
			addValue(d.Index(i), s.Index(i), useMax)
		}
	}
}

// fillTotals derives the headline numbers of the end-of-run summary from
// the stage counters.
func (s *Sensor) fillTotals(sum *Summary) {
	sum.TCPPackets = sum.Reassembly.Packets
	sum.Flows = sum.Reassembly.ConnsCreated
	for _, n := range sum.Parser.Errors {
		sum.ParseErrors += n
	}
	sum.Gaps = sum.Reassembly.GapEvents
	sum.MissedBytes = sum.Reassembly.MissedBytes
	// Drops: what the sensor itself threw away for lack of room or
	// structure (capacity evictions, fragments it could not keep, decode
	// failures); kernel drops are reported on their own.
	sum.Drops = sum.Reassembly.Evicted + sum.Decode.FragmentDropped + sum.Decode.FragmentsEvicted +
		sum.Decode.FragmentsTimedOut + sum.Decode.Truncated + sum.Decode.Malformed + sum.Decode.TooDeep
	sum.Filtered = s.filtered.Load()
}
