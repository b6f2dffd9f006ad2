package model

// ASCIIFoldEq reports whether ASCII-lowercasing s gives lower. It is not
// strings.EqualFold (which also folds the Kelvin sign and long s): it
// replaces lookups of ASCII-lowercased names, and works on []byte too.
func ASCIIFoldEq[T ~string | ~[]byte](s T, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != lower[i] {
			return false
		}
	}
	return true
}

// IsASCII reports whether s has only ASCII bytes: the names ASCIIFoldEq
// compares with must be, or they never match.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
