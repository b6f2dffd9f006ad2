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
