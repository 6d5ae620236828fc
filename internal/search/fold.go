package search

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// fold maps accented Latin letters to their base letters.
var fold = map[rune]string{}

func init() {
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđð", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥħ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűų", "w": "ŵẁẃẅ", "y": "ýÿŷỳ", "z": "źżž",
		"ae": "æ", "oe": "œ", "ss": "ß", "th": "þ",
	}
	for base, letters := range groups {
		for _, r := range letters {
			fold[r] = base
		}
	}
}

// Fold normalises a string for case- and accent-insensitive matching:
// lower case, diacritics removed, runs of spaces collapsed, ends trimmed.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' ') || s[i] == '\t' || s[i] == '\n' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		r = unicode.ToLower(r)
		if f, ok := fold[r]; ok {
			b.WriteString(f)
		} else if unicode.Is(unicode.Mn, r) {
			continue // combining marks (decomposed accents)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
