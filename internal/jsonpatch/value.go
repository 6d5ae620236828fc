package jsonpatch

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strconv"
	"strings"
)

// deepCopy copies the maps and slices of a decoded JSON value. Other values
// are immutable (or opaque) and are shared.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		if x == nil {
			return x
		}
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}

// nodeCost is the estimated cost of one JSON value beyond its text: about
// what it takes in memory as an interface value in its container.
const nodeCost = 16

// measure estimates the cost of v (nodeCost per value plus the length of
// its strings, member names and numbers), stopping early once the estimate
// exceeds limit.
func measure(v any, limit int64) int64 {
	var n int64
	var walk func(any)
	walk = func(v any) {
		n += nodeCost
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if n > limit {
					return
				}
				n += int64(len(k))
				walk(e)
			}
		case []any:
			for _, e := range x {
				if n > limit {
					return
				}
				walk(e)
			}
		case string:
			n += int64(len(x))
		case json.Number:
			n += int64(len(x))
		}
	}
	walk(v)
	return n
}

// equal reports whether two decoded JSON values are equal in the sense of
// the RFC 6902 "test" operation: same type; objects with the same members
// (in any order) and equal values; arrays with equal elements in order;
// numbers with the same numeric value ("1", "1.0" and "1e0" are equal).
func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if x, ok := numberText(a); ok {
		y, ok := numberText(b)
		return ok && numbersEqual(x, y)
	}
	return reflect.DeepEqual(a, b)
}

// numberText returns the decimal text of a numeric value.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	}
	return "", false
}

// numbersEqual compares two decimal numbers exactly by value. Text that is
// not a decimal number (or has an exponent of more than maxExpDigits
// digits) is compared as text.
func numbersEqual(a, b string) bool {
	if a == b {
		return true
	}
	x, ok := parseDecimal(a)
	if !ok {
		return false
	}
	y, ok := parseDecimal(b)
	if !ok {
		return false
	}
	if x.digits == "" || y.digits == "" { // zero, whatever its sign
		return x.digits == y.digits
	}
	return x.neg == y.neg && x.digits == y.digits && x.exp.Cmp(y.exp) == 0
}

const maxExpDigits = 1000

// decimal is a number in the canonical form ±0.digits×10^exp, where digits
// has no leading or trailing zeros; digits is empty for zero.
type decimal struct {
	neg    bool
	digits string
	exp    *big.Int
}

// parseDecimal parses [+-]digits[.digits][(e|E)[+-]digits] (a superset of
// JSON numbers, which also covers strconv's float formatting).
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		d.neg = s[i] == '-'
		i++
	}
	digits := func() string {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[start:i]
	}
	intPart := digits()
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		frac = digits()
	}
	if intPart == "" && frac == "" {
		return d, false
	}
	expText := "0"
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		sign := ""
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			sign = s[i : i+1]
			i++
		}
		e := digits()
		if e == "" {
			return d, false
		}
		if e = strings.TrimLeft(e, "0"); e == "" {
			e = "0"
		}
		if len(e) > maxExpDigits {
			return d, false
		}
		expText = sign + e
	}
	if i != len(s) {
		return d, false
	}
	mant := strings.TrimLeft(intPart+frac, "0")
	if mant == "" {
		return d, true // zero
	}
	d.digits = strings.TrimRight(mant, "0")
	// value = mant × 10^(exp-len(frac)) = 0.mant × 10^(exp-len(frac)+len(mant))
	// and stripping trailing zeros from mant does not change 0.mant.
	d.exp = new(big.Int)
	if _, ok := d.exp.SetString(expText, 10); !ok {
		return d, false
	}
	d.exp.Add(d.exp, big.NewInt(int64(len(mant)-len(frac))))
	return d, true
}
