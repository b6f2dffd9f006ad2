package discovery

import (
	"regexp"
	"strings"
)

// Sensitive data classes found in response bodies.
const (
	sensEmail uint16 = 1 << iota
	sensPhone
	sensCard
	sensIBAN
	sensNationalID
	sensJWT
	sensPrivateKey
	sensCloudKey
	sensPassword
	numSens = 9
)

var sensNames = [numSens]string{"email", "phone", "payment_card", "iban", "national_id", "jwt", "private_key", "cloud_access_key", "password"}

var (
	reEmail   = regexp.MustCompile(`[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}`)
	rePhone   = regexp.MustCompile(`\+[1-9][0-9 ().-]{7,18}[0-9]`)
	reCard    = regexp.MustCompile(`\b[0-9](?:[ -]?[0-9]){12,18}\b`)
	reIBAN    = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b`)
	reSSN     = regexp.MustCompile(`\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b`)
	reJWT     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	rePrivKey = regexp.MustCompile(`-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----`)
	reCloud   = regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|AIza[0-9A-Za-z_-]{35}`)
	rePass    = regexp.MustCompile(`"(?i:password|passwd|pwd|secret|client_secret|password_hash)"\s*:\s*"[^"]{1,}"`)
)

// sensHit is one class found, with redacted evidence.
type sensHit struct {
	class    uint16
	evidence string
}

// scanSensitive finds the sensitive classes in b. Evidence never holds a
// token or password; numbers are masked down to their last four digits.
func scanSensitive(b []byte, out []sensHit) []sensHit {
	s := string(b)
	if m := reEmail.FindString(s); m != "" {
		out = append(out, sensHit{sensEmail, maskEmail(m)})
	}
	for _, m := range rePhone.FindAllString(s, 4) {
		d := digitsOnly(m)
		if len(d) >= 8 && len(d) <= 15 {
			out = append(out, sensHit{sensPhone, "+" + strings.Repeat("*", len(d)-2) + d[len(d)-2:]})
			break
		}
	}
	for _, m := range reCard.FindAllString(s, 16) {
		d := digitsOnly(m)
		if len(d) >= 13 && len(d) <= 19 && luhn(d) && !sameDigits(d) {
			out = append(out, sensHit{sensCard, strings.Repeat("*", len(d)-4) + d[len(d)-4:]})
			break
		}
	}
	for _, m := range reIBAN.FindAllString(s, 8) {
		c := strings.ReplaceAll(m, " ", "")
		if ibanValid(c) {
			out = append(out, sensHit{sensIBAN, c[:2] + strings.Repeat("*", len(c)-6) + c[len(c)-4:]})
			break
		}
	}
	for _, m := range reSSN.FindAllString(s, 8) {
		if ssnValid(m) {
			out = append(out, sensHit{sensNationalID, "***-**-" + m[7:]})
			break
		}
	}
	if reJWT.MatchString(s) {
		out = append(out, sensHit{sensJWT, "[jwt redacted]"})
	}
	if rePrivKey.MatchString(s) {
		out = append(out, sensHit{sensPrivateKey, "[private key redacted]"})
	}
	if m := reCloud.FindString(s); m != "" {
		out = append(out, sensHit{sensCloudKey, m[:4] + "[redacted]"})
	}
	if m := rePass.FindString(s); m != "" {
		name := m[1 : strings.IndexByte(m[1:], '"')+1]
		out = append(out, sensHit{sensPassword, "field " + name})
	}
	return out
}

func digitsOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func sameDigits(d string) bool { return strings.Count(d, d[:1]) == len(d) }

// luhn is the payment card check digit test.
func luhn(d string) bool {
	sum, alt := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if alt {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		alt = !alt
	}
	return sum%10 == 0
}

// ibanValid applies the ISO 13616 mod-97 check.
func ibanValid(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	r := s[4:] + s[:4]
	rem := 0
	for i := 0; i < len(r); i++ {
		ch := r[i]
		var v int
		switch {
		case isDigit(ch):
			v = int(ch - '0')
			rem = (rem*10 + v) % 97
			continue
		case ch >= 'A' && ch <= 'Z':
			v = int(ch-'A') + 10
		default:
			return false
		}
		rem = (rem*100 + v) % 97
	}
	return rem == 1
}

// ssnValid rejects the US SSN ranges never issued.
func ssnValid(s string) bool {
	area, group, serial := s[:3], s[4:6], s[7:]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

func maskEmail(e string) string {
	at := strings.IndexByte(e, '@')
	if at <= 0 {
		return "***"
	}
	return e[:1] + "***" + e[at:]
}
