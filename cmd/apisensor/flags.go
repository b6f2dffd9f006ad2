package main

import (
	"fmt"
	"strings"
)

// multiFlag collects a repeatable flag (-r a -r b) and also splits on
// commas for list-valued ones (--kafka h1:9092,h2:9092).
type multiFlag struct {
	vals  []string
	comma bool
}

func (m *multiFlag) String() string { return strings.Join(m.vals, ",") }

func (m *multiFlag) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty value")
	}
	if m.comma {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				m.vals = append(m.vals, p)
			}
		}
		return nil
	}
	m.vals = append(m.vals, s)
	return nil
}
