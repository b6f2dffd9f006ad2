package parser

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	bad := map[string]func(*Config){
		"negative body cap":   func(c *Config) { c.MaxBody = -1 },
		"tiny header cap":     func(c *Config) { c.MaxHeaderBytes = 10 },
		"no pipeline":         func(c *Config) { c.MaxPipeline = 0 },
		"no HMAC key":         func(c *Config) { c.HMACKey = nil },
		"empty cookie name":   func(c *Config) { c.SessionCookies = []string{" "} },
		"64-byte header name": func(c *Config) { c.APIKeyHeaders = []string{strings.Repeat("h", 64)} },
		"65-byte query name":  func(c *Config) { c.APIKeyParams = []string{strings.Repeat("q", 65)} },
		// 63 bytes, 64 once lowercased: New indexed its table past the end.
		"non-ASCII header name": func(c *Config) { c.APIKeyHeaders = []string{strings.Repeat("a", 61) + "Ⱥ"} },
		"non-ASCII query name":  func(c *Config) { c.APIKeyParams = []string{"clé"} },
	}
	for name, mod := range bad {
		c := testConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New(c, &collect{}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	c := testConfig()
	c.APIKeyHeaders = []string{strings.Repeat("h", 63)}
	c.APIKeyParams = []string{strings.Repeat("q", 64)}
	if err := c.Validate(); err != nil {
		t.Errorf("longest usable names rejected: %v", err)
	}
}
