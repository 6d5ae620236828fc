package matching

// Soundex returns the American Soundex code of a name (as published by the
// US National Archives): the first letter, then digits for the following
// consonants (BFPV=1, CGJKQSXZ=2, DT=3, L=4, MN=5, R=6), adjacent letters
// with the same code written once (also across H and W, but not across
// vowels), padded with zeros to four characters. The name is normalised
// first (see NormalizeName); characters outside a–z are ignored. An empty
// name gives "".
func Soundex(name string) string {
	return soundex(normName(name).joined)
}

var soundexCode = [26]byte{
	// a  b    c    d    e  f    g    h  i  j    k    l    m    n    o  p    q    r    s    t    u  v    w  x    y  z
	0, '1', '2', '3', 0, '1', '2', 0, 0, '2', '2', '4', '5', '5', 0, '1', '2', '6', '2', '3', 0, '1', 0, '2', 0, '2',
}

// soundex codes an already-normalised name.
func soundex(s string) string {
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(s) && n < 4; i++ {
		c := s[i]
		if c < 'a' || c > 'z' {
			continue
		}
		code := soundexCode[c-'a']
		if n == 0 {
			out[0] = c - 'a' + 'A'
			n = 1
			last = code
			continue
		}
		switch {
		case c == 'h' || c == 'w':
			// H and W do not separate letters with the same code.
		case code == 0:
			last = 0 // vowels do separate them
		case code != last:
			out[n] = code
			n++
			last = code
		}
	}
	if n == 0 {
		return ""
	}
	for ; n < 4; n++ {
		out[n] = '0'
	}
	return string(out[:])
}

// NYSIIS returns the New York State Identification and Intelligence System
// phonetic code of a name (Taft, 1970), truncated to six characters. The
// name is normalised first (see NormalizeName); an empty name gives "".
func NYSIIS(name string) string {
	return nysiis(normName(name).joined)
}

func isVowel(c byte) bool {
	return c == 'A' || c == 'E' || c == 'I' || c == 'O' || c == 'U'
}

// nysiis codes an already-normalised (lower-case a–z) name.
func nysiis(s string) string {
	var buf [64]byte
	w := buf[:0]
	for i := 0; i < len(s) && len(w) < cap(buf); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			w = append(w, c-'a'+'A')
		}
	}
	if len(w) == 0 {
		return ""
	}
	// Step 1: first letters.
	switch {
	case hasPrefix(w, "MAC"):
		w[1] = 'C'
	case hasPrefix(w, "KN"):
		w[0] = 'N'
	case w[0] == 'K':
		w[0] = 'C'
	case hasPrefix(w, "PH"), hasPrefix(w, "PF"):
		w[0], w[1] = 'F', 'F'
	case hasPrefix(w, "SCH"):
		w[1], w[2] = 'S', 'S'
	}
	// Step 2: last letters.
	if n := len(w); n >= 2 {
		switch string(w[n-2:]) {
		case "EE", "IE":
			w = append(w[:n-2], 'Y')
		case "DT", "RT", "RD", "NT", "ND":
			w = append(w[:n-2], 'D')
		}
	}
	// Steps 3–4: keep the first letter, translate the rest.
	var kb [64]byte
	key := append(kb[:0], w[0])
	for i := 1; i < len(w); i++ {
		c := w[i]
		switch {
		case c == 'E' && i+1 < len(w) && w[i+1] == 'V':
			w[i], w[i+1] = 'A', 'F'
		case isVowel(c):
			w[i] = 'A'
		case c == 'Q':
			w[i] = 'G'
		case c == 'Z':
			w[i] = 'S'
		case c == 'M':
			w[i] = 'N'
		case c == 'K':
			if i+1 < len(w) && w[i+1] == 'N' {
				w[i] = 'N'
			} else {
				w[i] = 'C'
			}
		case c == 'S' && i+2 < len(w) && w[i+1] == 'C' && w[i+2] == 'H':
			w[i+1], w[i+2] = 'S', 'S'
		case c == 'P' && i+1 < len(w) && w[i+1] == 'H':
			w[i], w[i+1] = 'F', 'F'
		case c == 'H':
			prevVowel := isVowel(w[i-1]) || w[i-1] == 'A'
			nextVowel := i+1 < len(w) && isVowel(w[i+1])
			if !prevVowel || !nextVowel {
				w[i] = w[i-1]
			}
		case c == 'W':
			if isVowel(w[i-1]) {
				w[i] = w[i-1]
			}
		}
		if w[i] != key[len(key)-1] {
			key = append(key, w[i])
		}
	}
	// Steps 5–7: trailing S, AY and A.
	if len(key) > 1 && key[len(key)-1] == 'S' {
		key = key[:len(key)-1]
	}
	if n := len(key); n > 2 && key[n-2] == 'A' && key[n-1] == 'Y' {
		key = append(key[:n-2], 'Y')
	}
	if len(key) > 1 && key[len(key)-1] == 'A' {
		key = key[:len(key)-1]
	}
	if len(key) > 6 {
		key = key[:6]
	}
	return string(key)
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}
