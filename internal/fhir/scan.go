package fhir

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeWhole decodes data in one pass and reports whether it follows
// every rule of DecodeValue: valid JSON (as encoding/json reads it) with
// no duplicate object key, no null member, nothing empty below the top,
// no nesting deeper than MaxDepth and nothing after the value. Its value
// is the one encoding/json would give (objects map[string]any, arrays
// []any, numbers json.Number, strings with escapes resolved and invalid
// UTF-8 replaced by U+FFFD). What it does not accept is decoded again by
// decodeStrict, which names the refusal. FuzzDecodeWays holds it to the
// same answers as decodeStrict and as encoding/json with the rules checked
// after (the test's decodeWholeStd).
func decodeWhole(data []byte) (any, bool) {
	d := scanner{data: data}
	d.space()
	v, ok := d.value(0)
	if !ok {
		return nil, false
	}
	d.space()
	return v, d.i == len(data)
}

// scanner reads JSON text from data[i:].
type scanner struct {
	data []byte
	i    int
}

func (d *scanner) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value reads one value at nesting depth depth (the top is 0).
func (d *scanner) value(depth int) (any, bool) {
	if depth > MaxDepth || d.i >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		str, ok := d.str()
		return str, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

func (d *scanner) literal(word string) bool {
	if len(d.data)-d.i < len(word) || string(d.data[d.i:d.i+len(word)]) != word {
		return false
	}
	d.i += len(word)
	return true
}

func (d *scanner) object(depth int) (any, bool) {
	m := map[string]any{}
	if d.opens('}') {
		return m, true
	}
	for {
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, false
		}
		key, ok := d.str()
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.space()
		v, ok := d.value(depth + 1)
		if !ok || v == nil || empty(v) {
			return nil, false
		}
		if _, dup := m[key]; dup {
			return nil, false
		}
		m[key] = v
		if more, ok := d.next('}'); !ok || !more {
			return m, ok
		}
	}
}

func (d *scanner) array(depth int) (any, bool) {
	a := []any{}
	if d.opens(']') {
		return a, true
	}
	for {
		v, ok := d.value(depth + 1)
		if !ok || empty(v) {
			return nil, false
		}
		a = append(a, v)
		if more, ok := d.next(']'); !ok || !more {
			return a, ok
		}
	}
}

// opens steps over the opening bracket at d.i and the space after it, and
// reports whether close follows at once (then stepped over too: the
// object or array is empty).
func (d *scanner) opens(close byte) bool {
	d.i++
	d.space()
	if d.i < len(d.data) && d.data[d.i] == close {
		d.i++
		return true
	}
	return false
}

// next reads what follows a member or an element: a comma and the space
// after it (more follow), or close (the end). ok is false for anything
// else.
func (d *scanner) next(close byte) (more, ok bool) {
	d.space()
	if d.i >= len(d.data) {
		return false, false
	}
	switch d.data[d.i] {
	case ',':
		d.i++
		d.space()
		return true, true
	case close:
		d.i++
		return false, true
	}
	return false, false
}

// number reads a number as JSON defines it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *scanner) number() (any, bool) {
	start := d.i
	if d.data[d.i] == '-' {
		d.i++
	}
	if d.i >= len(d.data) {
		return nil, false
	}
	if d.data[d.i] == '0' {
		d.i++
	} else if !d.digits() {
		return nil, false
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		if !d.digits() {
			return nil, false
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return nil, false
		}
	}
	return json.Number(d.data[start:d.i]), true
}

// digits reads one or more decimal digits.
func (d *scanner) digits() bool {
	start := d.i
	for d.i < len(d.data) && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// str reads a string: its text is copied as it is, unless it holds an
// escape or bytes that are not UTF-8 (then unquote resolves it as
// encoding/json does).
func (d *scanner) str() (string, bool) {
	d.i++ // "
	start := d.i
	ascii, escaped := true, false
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			if !escaped && (ascii || utf8.Valid(s)) {
				return string(s), true
			}
			return unquote(s), true
		case c == '\\':
			if !d.escape() {
				return "", false
			}
			escaped = true
			continue
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// escape steps over the escape at d.i, reporting whether it is one JSON
// allows.
func (d *scanner) escape() bool {
	if d.i+1 >= len(d.data) {
		return false
	}
	switch d.data[d.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		d.i += 2
	case 'u':
		if d.i+6 > len(d.data) || hex4(d.data[d.i+2:d.i+6]) < 0 {
			return false
		}
		d.i += 6
	default:
		return false
	}
	return true
}

// hex4 is the value of four hex digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquote resolves the escapes of a string's text (already checked) and
// replaces bytes that are not UTF-8 by U+FFFD, as encoding/json does: a
// surrogate pair of escapes is one character, a lone surrogate U+FFFD.
func unquote(s []byte) string {
	b := make([]byte, 0, len(s)+8)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch e := s[r+1]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r+2 : r+6])
				r += 6
				if utf16.IsSurrogate(rr) {
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, hex4(s[r+2:r+6])); dec != utf8.RuneError {
							r += 6
							b = utf8.AppendRune(b, dec)
							continue
						}
					}
					rr = utf8.RuneError
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // " \ /
				b = append(b, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			b = utf8.AppendRune(b, rr)
			r += size
		}
	}
	return string(b)
}
