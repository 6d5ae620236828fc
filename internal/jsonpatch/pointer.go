package jsonpatch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParsePointer splits a JSON Pointer (RFC 6901) into its unescaped reference
// tokens: "~1" becomes "/" and "~0" becomes "~". The empty string is the
// whole document and yields no tokens. A pointer must otherwise start with
// "/", may not contain "~" followed by anything but "0" or "1", and may hold
// at most MaxPointerDepth tokens.
func ParsePointer(s string) ([]string, error) {
	if s == "" {
		return []string{}, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("pointer %s must be empty or start with \"/\"", quoteShort(s))
	}
	if n := strings.Count(s, "/"); n > MaxPointerDepth {
		return nil, fmt.Errorf("pointer has %d reference tokens, more than the limit of %d", n, MaxPointerDepth)
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		if !strings.Contains(p, "~") {
			continue
		}
		var b strings.Builder
		b.Grow(len(p))
		for j := 0; j < len(p); j++ {
			c := p[j]
			if c != '~' {
				b.WriteByte(c)
				continue
			}
			if j+1 < len(p) && p[j+1] == '0' {
				b.WriteByte('~')
			} else if j+1 < len(p) && p[j+1] == '1' {
				b.WriteByte('/')
			} else {
				return nil, fmt.Errorf("pointer %s has \"~\" not followed by \"0\" or \"1\"", quoteShort(s))
			}
			j++
		}
		parts[i] = b.String()
	}
	return parts, nil
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// formatPointer is the inverse of ParsePointer, for error messages.
func formatPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}

// location describes the location tokens for an error message.
func location(tokens []string) string {
	if len(tokens) == 0 {
		return `"" (the document root)`
	}
	return quoteShort(formatPointer(tokens))
}

// quoteShort quotes s for an error message, eliding the middle of long text.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max/2]) + "..." + strconv.Quote(s[len(s)-max/2:])
	}
	return strconv.Quote(s)
}

var errDash = errors.New(`"-" refers to the (nonexistent) element after the end of the array`)

// arrayIndex parses the reference token tok as an index into an array of
// length n. With forAdd, "-" and n itself are allowed (they address the
// position after the last element); otherwise the element must exist.
func arrayIndex(tok string, n int, forAdd bool) (int, error) {
	if tok == "-" {
		if forAdd {
			return n, nil
		}
		return 0, errDash
	}
	if tok == "" || len(tok) > 1 && tok[0] == '0' {
		return 0, fmt.Errorf("invalid array index %s", quoteShort(tok))
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, fmt.Errorf("invalid array index %s", quoteShort(tok))
		}
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i > n || i == n && !forAdd {
		return 0, fmt.Errorf("array index %s is out of range (array length %d)", quoteShort(tok), n)
	}
	return i, nil
}
