package model

import (
	"net/netip"
	"time"
)

// FindingType is the contract's list of finding kinds (DESIGN.md).
type FindingType string

const (
	FindingBOLA                  FindingType = "bola"
	FindingEnumeration           FindingType = "enumeration"
	FindingScraping              FindingType = "scraping"
	FindingCredentialStuffing    FindingType = "credential_stuffing"
	FindingBFLA                  FindingType = "bfla"
	FindingDataExposure          FindingType = "data_exposure"
	FindingRateAbuse             FindingType = "rate_abuse"
	FindingInjection             FindingType = "injection"
	FindingSSRF                  FindingType = "ssrf"
	FindingShadowAPI             FindingType = "shadow_api"
	FindingZombieAPI             FindingType = "zombie_api"
	FindingUnauthenticatedAccess FindingType = "unauthenticated_access"
	FindingWeakAuth              FindingType = "weak_auth"
	FindingInsecureConfig        FindingType = "insecure_config"
)

// Severity of a finding.
type Severity uint8

const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "unknown"
}

// MarshalText makes severities read as words in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the word form.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if n == string(b) {
			*s = Severity(i)
			return nil
		}
	}
	*s = SeverityInfo
	return nil
}

// Finding is one report. A finding is keyed by (Type, Host, Method, Template,
// Principal) and updated in place as evidence grows: Count and LastSeen move,
// ID stays.
type Finding struct {
	ID        string       `json:"id"`
	Type      FindingType  `json:"type"`
	Severity  Severity     `json:"severity"`
	OWASP     string       `json:"owasp"`
	FirstSeen time.Time    `json:"first_seen"`
	LastSeen  time.Time    `json:"last_seen"`
	Principal string       `json:"principal"`
	ClientIPs []netip.Addr `json:"client_ips"`
	Host      string       `json:"host"`
	Method    string       `json:"method"`
	Template  string       `json:"template"`
	Count     int64        `json:"count"`
	Summary   string       `json:"summary"`
	// Evidence is redacted: masked card numbers, never a token or password.
	Evidence map[string]string `json:"evidence,omitempty"`
}
