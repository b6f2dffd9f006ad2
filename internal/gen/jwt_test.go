package gen

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// jwtSub decodes a JWT's payload and returns its sub claim ("" if the token
// is not a JWT).
func jwtSub(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	return claims.Sub
}

// jwtHeader decodes a JWT's header.
func jwtHeader(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil
	}
	var h map[string]any
	if json.Unmarshal(raw, &h) != nil {
		return nil
	}
	return h
}
