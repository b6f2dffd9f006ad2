package discovery

import (
	"strings"
)

// segClass is what a path segment looks like on its own.
type segClass uint8

const (
	segLiteral segClass = iota
	segInt
	segUUID
	segULID
	segObjectID
	segHex
	segToken // base64url token
	segEmail
	segDate
	segMixed   // long mixed alphanumeric
	segEncoded // percent-encoded text: never an API word
	segSlug    // a literal the sibling statistics turned into a parameter
	numSegClasses
)

var segClassNames = [...]string{"literal", "integer", "uuid", "ulid", "objectid", "hex", "token", "email", "date", "mixed", "encoded", "slug"}

func (c segClass) String() string { return segClassNames[c] }

// splitExt splits a file-like segment ("report.pdf") into name and
// extension (".pdf"), or a custom-method segment ("abc123:cancel", Google
// style) into name and ":cancel". The extension must be 1-5 characters with
// a letter, so "1.0" and "v1.2" are not files.
func splitExt(seg string) (name, ext string) {
	if i := strings.LastIndexByte(seg, ':'); i > 0 && i < len(seg)-1 && isWord(seg[i+1:]) {
		return seg[:i], seg[i:]
	}
	i := strings.LastIndexByte(seg, '.')
	if i <= 0 || i == len(seg)-1 || len(seg)-i-1 > 5 {
		return seg, ""
	}
	e := seg[i+1:]
	hasLetter := false
	for j := 0; j < len(e); j++ {
		ch := e[j]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z':
			hasLetter = true
		case ch >= '0' && ch <= '9':
		default:
			return seg, ""
		}
	}
	if !hasLetter {
		return seg, ""
	}
	return seg[:i], seg[i:]
}

// isVersion reports segments like v1, v2beta1, v1.2, V3, v1alpha: literal by
// rule. A random id that happens to start with "v7" (v7xkh19u) is not one.
func isVersion(s string) bool {
	if len(s) < 2 || len(s) > 12 || (s[0] != 'v' && s[0] != 'V') || !isDigit(s[1]) {
		return false
	}
	i := 2
	for i < len(s) && (isDigit(s[i]) || s[i] == '.' && i+1 < len(s) && isDigit(s[i+1])) {
		i++
	}
	rest := s[i:]
	for _, tag := range [...]string{"alpha", "beta", "preview", "rc", "p"} {
		if strings.HasPrefix(rest, tag) {
			rest = rest[len(tag):]
			for j := 0; j < len(rest); j++ {
				if !isDigit(rest[j]) {
					return false
				}
			}
			return true
		}
	}
	return rest == ""
}

// versionOf returns the numeric major of a version segment (v1 → 1, a date
// version → yyyymmdd) and whether the segment is a version at all.
func versionOf(s string, idx int) (int, bool) {
	if isVersion(s) {
		n := 0
		for i := 1; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	if idx <= 1 && isDate(s) {
		return int(s[0]-'0')*10000000 + int(s[1]-'0')*1000000 + int(s[2]-'0')*100000 + int(s[3]-'0')*10000 +
			int(s[5]-'0')*1000 + int(s[6]-'0')*100 + int(s[8]-'0')*10 + int(s[9]-'0'), true
	}
	return 0, false
}

func isDigit(ch byte) bool { return ch >= '0' && ch <= '9' }
func isHexCh(ch byte) bool {
	return isDigit(ch) || ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F'
}

// isDate matches YYYY-MM-DD.
func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// isTimestamp matches an RFC 3339-like date-time (2024-01-01T10:00:00Z and
// variants with offsets or fractions).
func isTimestamp(s string) bool {
	if len(s) < 16 || !isDate(s[:10]) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') {
		return false
	}
	return isDigit(s[11]) && isDigit(s[12]) && s[13] == ':'
}

func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if !isHexCh(s[i]) {
			return false
		}
	}
	return true
}

// isULID matches 26 Crockford base32 characters (no I, L, O, U) whose first
// character is 0-7, with at least one digit (a 26-letter word is not an id).
func isULID(s string) bool {
	if len(s) != 26 || s[0] < '0' || s[0] > '7' {
		return false
	}
	digits := 0
	for i := 0; i < 26; i++ {
		ch := s[i]
		switch {
		case isDigit(ch):
			digits++
		case ch >= 'A' && ch <= 'Z' && ch != 'I' && ch != 'L' && ch != 'O' && ch != 'U':
		default:
			return false
		}
	}
	return digits > 0
}

func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	dom := s[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	return dot > 0 && dot < len(dom)-2
}

// classify says what a raw path segment is. idx is its position in the path
// (0 = first segment); dates in the first two positions are API versions
// (Stripe/Azure style "2024-01-01") and stay literal.
func classify(seg string, idx int) segClass {
	if seg == "" {
		return segLiteral
	}
	for i := 0; i < len(seg); i++ {
		// Percent-encoded text and raw control bytes are never API words
		// (and a NUL must never reach a tree key, where it marks parameters).
		if ch := seg[i]; ch == '%' || ch < 0x20 || ch == 0x7f {
			return segEncoded
		}
	}
	if isEmail(seg) {
		return segEmail
	}
	if isUUID(seg) {
		return segUUID
	}
	if isTimestamp(seg) {
		return segDate
	}
	if isDate(seg) {
		if idx <= 1 {
			return segLiteral
		}
		return segDate
	}
	if isVersion(seg) {
		return segLiteral
	}
	var digits, lower, upper, hexLetters, other, dashes int
	transitions := 0 // digit↔letter changes: ids interleave, words with a suffix number do not
	prevDigit := -1
	for i := 0; i < len(seg); i++ {
		ch := seg[i]
		d := -1
		switch {
		case isDigit(ch):
			digits++
			d = 1
		case ch >= 'a' && ch <= 'z':
			lower++
			if ch <= 'f' {
				hexLetters++
			}
			d = 0
		case ch >= 'A' && ch <= 'Z':
			upper++
			if ch <= 'F' {
				hexLetters++
			}
			d = 0
		case ch == '-' || ch == '_':
			dashes++
		case ch == '=' && i >= len(seg)-2:
		default:
			other++
		}
		if d >= 0 {
			if prevDigit >= 0 && d != prevDigit {
				transitions++
			}
			prevDigit = d
		}
	}
	letters := lower + upper
	n := len(seg)
	if other > 0 {
		return segLiteral
	}
	if digits == n {
		if idx == 0 && n <= 2 {
			return segLiteral // a bare API version at the root (/1/boards, Trello)
		}
		return segInt
	}
	if dashes == 0 && letters == hexLetters && digits > 0 && (lower == 0 || upper == 0) {
		if n == 24 {
			return segObjectID
		}
		if n >= 8 {
			return segHex
		}
	}
	if isULID(seg) {
		return segULID
	}
	if n >= 16 && digits > 0 && lower > 0 && upper > 0 {
		return segToken
	}
	if digits >= 2 && letters > 0 && (n >= 8 || transitions >= 2) {
		return segMixed
	}
	if digits == 1 && n >= 8 && dashes == 0 && looksRandom(seg) {
		return segMixed
	}
	return segLiteral
}

// looksRandom reports letters that do not read as words: under a quarter
// vowels, or five consonants in a row. Random lowercase ids carry one digit
// about a third of the time (d5rssgdx, wsq4txrdqhwnj); words with a digit
// read as words (oauth2callback, ipv4addresses, windowsPhone8, s3buckets).
func looksRandom(seg string) bool {
	letters, vowels, run, maxRun := 0, 0, 0, 0
	for i := 0; i < len(seg); i++ {
		ch := seg[i] | 0x20
		if ch < 'a' || ch > 'z' {
			run = 0
			continue
		}
		letters++
		switch ch {
		case 'a', 'e', 'i', 'o', 'u':
			vowels++
			run = 0
		default:
			run++
			maxRun = max(maxRun, run)
		}
	}
	return letters >= 6 && (4*vowels < letters || maxRun >= 5)
}

// paramType maps a segment class to an OpenAPI type and format.
func paramType(mask uint16) (typ, format string) {
	if mask == 0 {
		return "string", ""
	}
	if mask == 1<<segInt {
		return "integer", "int64"
	}
	single := mask&(mask-1) == 0
	if single {
		switch {
		case mask == 1<<segUUID:
			return "string", "uuid"
		case mask == 1<<segEmail:
			return "string", "email"
		case mask == 1<<segDate:
			return "string", "date"
		}
	}
	return "string", ""
}

// paramName derives a parameter name from the literal before it:
// orders → orderId, line-items → lineItemId, categories → categoryId.
func paramName(prev string) string {
	if prev == "" || isVersion(prev) {
		return "id"
	}
	name, _ := splitExt(prev)
	var b strings.Builder
	up := false
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9' && b.Len() > 0:
			if up {
				ch -= 'a' - 'A'
				up = false
			}
			b.WriteByte(ch)
		case ch >= 'A' && ch <= 'Z':
			if b.Len() == 0 {
				ch += 'a' - 'A'
			}
			up = false
			b.WriteByte(ch)
		default:
			up = b.Len() > 0
		}
	}
	s := singular(b.String())
	if s == "" {
		return "id"
	}
	return s + "Id"
}

func singular(s string) string {
	switch {
	case len(s) > 4 && strings.HasSuffix(s, "ies"):
		return s[:len(s)-3] + "y"
	case len(s) > 4 && (strings.HasSuffix(s, "sses") || strings.HasSuffix(s, "xes") || strings.HasSuffix(s, "ches") || strings.HasSuffix(s, "shes")):
		return s[:len(s)-2]
	case len(s) > 3 && strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss") && !strings.HasSuffix(s, "us") && !strings.HasSuffix(s, "is"):
		return s[:len(s)-1]
	}
	return s
}

// isWord reports letters only: the kind of literal that can be a fixed
// sub-resource (/users/me, /orders/search) beside a parameter.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
			return false
		}
	}
	return true
}
