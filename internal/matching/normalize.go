package matching

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// latin1Fold maps U+00C0..U+00FF to a base letter. Upper-case placeholders
// stand for two-letter expansions (see expand); '_' means "drop".
const latin1Fold = "aaaaaaAceeeeiiiidnooooo_ouuuuyTSaaaaaaAceeeeiiiidnooooo_ouuuuyTy"

// latinExtAFold maps U+0100..U+017F (Latin Extended-A) to a base letter.
const latinExtAFold = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiJJjjkkkllllllllllnnnnnnnnnooooooOOrrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs"

func expand(b byte) string {
	switch b {
	case 'A':
		return "ae"
	case 'T':
		return "th"
	case 'S':
		return "ss"
	case 'J':
		return "ij"
	case 'O':
		return "oe"
	case '_':
		return ""
	}
	return string(rune(b))
}

// foldRune returns the lower-case ASCII spelling of a Latin letter with
// diacritics ("ë" → "e", "ß" → "ss"), or "" with ok false when r has no
// such spelling.
func foldRune(r rune) (string, bool) {
	switch {
	case r >= 0xC0 && r <= 0xFF:
		return expand(latin1Fold[r-0xC0]), true
	case r >= 0x100 && r <= 0x17F:
		return expand(latinExtAFold[r-0x100]), true
	}
	switch r {
	case 'ƒ':
		return "f", true
	case 'Ș', 'ș':
		return "s", true
	case 'Ț', 'ț':
		return "t", true
	case 'Ǎ', 'ǎ':
		return "a", true
	case 'Ǐ', 'ǐ':
		return "i", true
	case 'Ǒ', 'ǒ':
		return "o", true
	case 'Ǔ', 'ǔ':
		return "u", true
	case 'ẞ':
		return "ss", true
	}
	return "", false
}

// isApostrophe reports whether r is one of the characters used as an
// apostrophe in names (O'Brien, O’Brien, D`Arcy, ʻ).
func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', '‘', '`', '´', 'ʼ', 'ʻ', '′':
		return true
	}
	return false
}

// isSeparator reports whether r separates the parts of a name: white
// space, hyphens and dashes, dots, commas and slashes.
func isSeparator(r rune) bool {
	switch r {
	case ' ', '-', '.', ',', '/', '_', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u00A0':
		return true
	}
	return unicode.IsSpace(r)
}

// Fold lower-cases s and removes diacritics from Latin letters
// ("Zoë" → "zoe", "Ó Súilleabháin" → "o suilleabhain", "Łukasz" → "lukasz").
// Combining marks (as in decomposed text) are dropped. Other characters,
// including spaces, hyphens and apostrophes, are kept.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || (c >= 'A' && c <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		case r >= 0x300 && r <= 0x36F: // combining diacritical marks
		default:
			if f, ok := foldRune(r); ok {
				b.WriteString(f)
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
		}
	}
	return b.String()
}

// NormalizeName returns the comparison key of a name: folded (see Fold)
// with apostrophes, hyphens, spaces and other punctuation removed, so
// "O'Brien", "O Brien" and "OBRIEN" all give "obrien", and "Smith-Jones"
// gives "smithjones". Two names are equal for exact matching when their
// NormalizeName values are equal.
func NormalizeName(s string) string {
	return normName(s).joined
}

// Names are compared on their first maxNameLen bytes and at most
// maxNameParts parts, which bounds the quadratic string comparisons (PDS
// limits names to 35 characters).
const (
	maxNameLen   = 64
	maxNameParts = 6
)

// truncate cuts s to at most maxNameLen bytes at a rune boundary.
func truncate(s string) string {
	if len(s) <= maxNameLen {
		return s
	}
	i := maxNameLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// nameForm is a normalised name.
type nameForm struct {
	joined string   // all letters, no separators: "smithjones", "obrien"
	parts  []string // significant parts of a multi-part name, else nil
}

// particles are name parts too short or too common to identify a family
// on their own ("Ó Briain" must not match every "O ...").
var particles = map[string]bool{
	"o": true, "ni": true, "nic": true, "mac": true, "mc": true, "mhic": true, "ui": true,
	"de": true, "da": true, "di": true, "du": true, "del": true, "della": true, "des": true,
	"van": true, "von": true, "der": true, "den": true, "le": true, "la": true, "st": true,
	"ap": true, "ab": true, "al": true, "el": true, "bin": true, "bint": true, "ben": true,
}

// normName folds s, drops apostrophes and other punctuation, splits it on
// separators and keeps only letters.
func normName(s string) nameForm {
	// Fast path: a single word of ASCII letters.
	simple, lower := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			continue
		}
		if c >= 'A' && c <= 'Z' {
			lower = false
			continue
		}
		simple = false
		break
	}
	if simple {
		if len(s) > maxNameLen {
			s = s[:maxNameLen]
		}
		if lower {
			return nameForm{joined: s}
		}
		b := make([]byte, len(s))
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
		}
		return nameForm{joined: string(b)}
	}
	f := Fold(s)
	var tokens []string
	var cur strings.Builder
	var all strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			tokens = append(tokens, cur.String())
			cur.Reset()
		}
	}
	for _, r := range f {
		switch {
		case r < utf8.RuneSelf:
			if r >= 'a' && r <= 'z' {
				cur.WriteByte(byte(r))
				all.WriteByte(byte(r))
			} else if isSeparator(r) {
				flush()
			}
			// digits, apostrophes and other ASCII punctuation are dropped
		case isApostrophe(r):
		case isSeparator(r):
			flush()
		case unicode.IsLetter(r):
			cur.WriteRune(r)
			all.WriteRune(r)
		}
	}
	flush()
	nf := nameForm{joined: truncate(all.String())}
	if len(tokens) > 1 {
		for _, t := range tokens {
			if len(t) >= 2 && !particles[t] && len(nf.parts) < maxNameParts {
				nf.parts = append(nf.parts, truncate(t))
			}
		}
		if len(nf.parts) == 1 && nf.parts[0] == nf.joined {
			nf.parts = nil
		}
	}
	return nf
}

// NormalizePostcode upper-cases a UK postcode and removes all white space:
// "ls1 6ae" and "LS16AE" both give "LS16AE".
func NormalizePostcode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsSpace(r) {
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Outward returns the outward code of a normalised postcode (everything
// before the final three characters of the inward code): "LS16AE" → "LS1".
// It returns "" when pc is too short to hold both parts.
func Outward(pc string) string {
	if len(pc) < 5 || len(pc) > 8 {
		return ""
	}
	return pc[:len(pc)-3]
}

func normGender(g string) string {
	switch strings.ToLower(strings.TrimSpace(g)) {
	case "male", "m":
		return "male"
	case "female", "f":
		return "female"
	case "other", "o":
		return "other"
	case "":
		return ""
	}
	return "unknown"
}
