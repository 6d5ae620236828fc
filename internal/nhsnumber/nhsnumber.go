// Package nhsnumber validates, formats and allocates NHS numbers.
//
// An NHS number is ten digits. The tenth is a Modulus 11 check digit over
// the first nine: multiply them by the weights 10, 9, ..., 2, sum, take the
// remainder modulo 11 and subtract it from 11. A result of 11 becomes 0; a
// result of 10 means no valid number exists with those nine digits, so such
// prefixes are never issued.
//
// The block 999 000 0000 – 999 999 9999 is reserved for test data; OpenSpine
// allocates synthetic patients from it (see TestRange).
package nhsnumber

import "strconv"

// Bounds of the NHS number range reserved for test data.
const (
	TestLow  = "9990000000" // lowest number in the test range
	TestHigh = "9999999999" // highest number in the test range

	// TestPrefixLow and TestPrefixHigh bound the test range as 9-digit
	// prefixes (the number without its check digit).
	TestPrefixLow  uint64 = 999000000
	TestPrefixHigh uint64 = 999999999
)

// TestRange is the test-data range as a Range of 9-digit prefixes. It holds
// 1,000,000 prefixes of which 909,091 have a valid check digit.
var TestRange = Range{Low: TestPrefixLow, High: TestPrefixHigh}

// Valid reports whether s is exactly ten ASCII digits whose last digit is
// the Modulus 11 check digit of the first nine.
func Valid(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		if i < 9 {
			sum += int(c-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && int(s[9]-'0') == check
}

// CheckDigit returns the check digit for a 9-digit prefix. ok is false when
// first9 is not nine ASCII digits or when the computed check digit is 10
// (no valid NHS number starts with those nine digits).
func CheckDigit(first9 string) (digit int, ok bool) {
	if len(first9) != 9 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		c := first9[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sum += int(c-'0') * (10 - i)
	}
	return checkFromSum(sum)
}

func checkFromSum(sum int) (int, bool) {
	check := 11 - sum%11
	switch check {
	case 11:
		return 0, true
	case 10:
		return 0, false
	}
	return check, true
}

// FromNine returns the NHS number made of first9 and its check digit, or
// false when first9 is malformed or its check digit would be 10.
func FromNine(first9 string) (string, bool) {
	d, ok := CheckDigit(first9)
	if !ok {
		return "", false
	}
	var b [10]byte
	copy(b[:], first9)
	b[9] = byte('0' + d)
	return string(b[:]), true
}

// FromPrefix is FromNine for a numeric prefix in [0, 999999999]; the prefix
// is left-padded with zeros to nine digits.
func FromPrefix(prefix uint64) (string, bool) {
	if prefix > 999999999 {
		return "", false
	}
	var b [10]byte
	sum := 0
	p := prefix
	for i := 8; i >= 0; i-- {
		d := int(p % 10)
		p /= 10
		b[i] = byte('0' + d)
		sum += d * (10 - i)
	}
	check, ok := checkFromSum(sum)
	if !ok {
		return "", false
	}
	b[9] = byte('0' + check)
	return string(b[:]), true
}

// Normalize removes spaces and hyphens, the separators people type in NHS
// numbers ("943 476 5919", "943-476-5919"). It does not validate.
func Normalize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '-' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '-' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// Format returns the display form "943 476 5919" (3-3-4 digits) of an NHS
// number. Spaces and hyphens in s are ignored; anything that is not then
// ten digits is returned unchanged. Format does not check the check digit.
func Format(s string) string {
	n := Normalize(s)
	if len(n) != 10 {
		return s
	}
	for i := 0; i < 10; i++ {
		if n[i] < '0' || n[i] > '9' {
			return s
		}
	}
	return n[0:3] + " " + n[3:6] + " " + n[6:10]
}

// IsTest reports whether s is a valid NHS number in the test-data range.
func IsTest(s string) bool {
	return Valid(s) && s[0:3] == "999"
}

// Range is an inclusive range of 9-digit NHS number prefixes.
type Range struct {
	Low, High uint64
}

// Contains reports whether the valid NHS number nhs has its prefix in r.
func (r Range) Contains(nhs string) bool {
	if !Valid(nhs) {
		return false
	}
	p, err := strconv.ParseUint(nhs[:9], 10, 64)
	if err != nil {
		return false
	}
	return p >= r.Low && p <= r.High
}

// Next returns the first valid NHS number whose prefix is in r and at or
// after prefix, skipping prefixes whose check digit would be 10. nextPrefix
// is the prefix to pass to the following call. ok is false when the range
// is exhausted; nextPrefix is then r.High+1.
func (r Range) Next(prefix uint64) (nhs string, nextPrefix uint64, ok bool) {
	if prefix < r.Low {
		prefix = r.Low
	}
	high := r.High
	if high > 999999999 {
		high = 999999999
	}
	for p := prefix; p <= high; p++ {
		if n, ok := FromPrefix(p); ok {
			return n, p + 1, true
		}
	}
	return "", r.High + 1, false
}

// Size is the number of prefixes in r (including those that are invalid).
func (r Range) Size() uint64 {
	if r.High < r.Low {
		return 0
	}
	return r.High - r.Low + 1
}
