package model

import "time"

// EndpointState is an endpoint's standing against the specs (DESIGN.md).
type EndpointState uint8

const (
	StateObserved   EndpointState = iota // host not covered by any spec
	StateDocumented                      // in a spec and seen
	StateShadow                          // seen, in no spec for its host
	StateZombie                          // deprecated or superseded version, still answering
	StateUnused                          // in a spec, never seen
)

var stateNames = [...]string{"observed", "documented", "shadow", "zombie", "unused"}

func (s EndpointState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText makes states read as words in JSON.
func (s EndpointState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the word form.
func (s *EndpointState) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = EndpointState(i)
			return nil
		}
	}
	*s = StateObserved
	return nil
}

// Endpoint is one inventory entry: a (host, method, path template). The
// discovery package owns and extends the detail fields; the ones named in
// DESIGN.md are the contract.
type Endpoint struct {
	Host      string            `json:"host"`
	Method    string            `json:"method"`
	Template  string            `json:"template"`
	State     EndpointState     `json:"state"`
	FirstSeen time.Time         `json:"first_seen"`
	LastSeen  time.Time         `json:"last_seen"`
	Calls     int64             `json:"calls"`
	Statuses  map[string]int64  `json:"statuses"`  // "200" -> count (JSON keys are strings)
	Auth      []string          `json:"auth"`      // schemes seen: none, basic, bearer, bearer-jwt, apikey, cookie
	Sensitive []string          `json:"sensitive"` // sensitive data classes seen in responses
	Detail    *EndpointDetail   `json:"detail,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// EndpointDetail is the learned shape of an endpoint beyond the contract's
// fields. Discovery fills it.
type EndpointDetail struct {
	LatencyP50Ms        float64           `json:"latency_p50_ms"`
	LatencyP95Ms        float64           `json:"latency_p95_ms"`
	RequestContentTypes []string          `json:"request_content_types,omitempty"`
	QueryParams         []string          `json:"query_params,omitempty"`
	RequestBodyKeys     []string          `json:"request_body_keys,omitempty"`
	ResponseBodyKeys    []string          `json:"response_body_keys,omitempty"`
	UnauthenticatedOK   int64             `json:"unauthenticated_success"`
	SecurityHeaders     []string          `json:"security_headers,omitempty"`
	Deprecated          bool              `json:"deprecated,omitempty"`
	Spec                string            `json:"spec,omitempty"` // file the documenting spec came from
	RequestSchema       map[string]any    `json:"request_schema,omitempty"`
	ResponseSchemas     map[string]any    `json:"response_schemas,omitempty"` // status -> JSON schema
	Params              map[string]string `json:"params,omitempty"`           // path parameter -> inferred type/format
}
