package nhsnumber

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// refValid is an independent, deliberately naive implementation of the
// Modulus 11 rule used to cross-check Valid.
func refValid(s string) bool {
	if len(s) != 10 {
		return false
	}
	digits := make([]int, 0, 10)
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		digits = append(digits, int(r-'0'))
	}
	if len(digits) != 10 {
		return false
	}
	total := 0
	weights := []int{10, 9, 8, 7, 6, 5, 4, 3, 2}
	for i, w := range weights {
		total += digits[i] * w
	}
	remainder := total % 11
	check := 11 - remainder
	if check == 11 {
		check = 0
	}
	if check == 10 {
		return false
	}
	return digits[9] == check
}

func TestValidKnown(t *testing.T) {
	valid := []string{
		"9000000009", "9000000017", "9000000025", "9000000033",
		"9434765919", "9434765870", "9449306060", "9449310475",
		"9449305552", "4010232137", "9990000018", "9999999999",
	}
	for _, n := range valid {
		if !Valid(n) {
			t.Errorf("Valid(%q) = false, want true", n)
		}
	}
	invalid := []string{
		"9000000008", "1234567890", "9434765918", "9990000000",
		"", "900000000", "90000000099", "900000000a", "９000000009",
		"900 000 0009", " 9000000009", "-900000009",
	}
	for _, n := range invalid {
		if Valid(n) {
			t.Errorf("Valid(%q) = true, want false", n)
		}
	}
}

func TestCheckDigit(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"900000000", 9, true},
		{"943476591", 9, true},
		{"944930606", 0, true},
		{"999000000", 0, false}, // check digit would be 10
		{"12345678", 0, false},
		{"12345678x", 0, false},
	}
	for _, c := range cases {
		got, ok := CheckDigit(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("CheckDigit(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestFromNine(t *testing.T) {
	if n, ok := FromNine("943476591"); !ok || n != "9434765919" {
		t.Errorf("FromNine = %q, %v", n, ok)
	}
	if _, ok := FromNine("999000000"); ok {
		t.Error("FromNine(999000000) should fail: check digit 10")
	}
	if n, ok := FromPrefix(1); !ok || n != "0000000019" || !Valid(n) {
		t.Errorf("FromPrefix(1) = %q, %v", n, ok)
	}
	if _, ok := FromPrefix(1_000_000_000); ok {
		t.Error("FromPrefix out of range should fail")
	}
}

func TestFormat(t *testing.T) {
	cases := map[string]string{
		"9434765919":   "943 476 5919",
		"943 476 5919": "943 476 5919",
		"943-476-5919": "943 476 5919",
		"12345":        "12345",
		"94347659x9":   "94347659x9",
		"":             "",
	}
	for in, want := range cases {
		if got := Format(in); got != want {
			t.Errorf("Format(%q) = %q, want %q", in, got, want)
		}
	}
	if Normalize("943 476 5919") != "9434765919" {
		t.Error("Normalize")
	}
}

// TestValidProperty compares Valid, CheckDigit, FromNine and FromPrefix
// with the reference implementation over many numbers.
func TestValidProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	validCount := 0
	for i := 0; i < n; i++ {
		s := strconv.FormatUint(r.Uint64N(10_000_000_000)+10_000_000_000, 10)[1:]
		got, want := Valid(s), refValid(s)
		if got != want {
			t.Fatalf("Valid(%q) = %v, reference says %v", s, got, want)
		}
		if got {
			validCount++
		}
		d, ok := CheckDigit(s[:9])
		refOK := false
		for c := 0; c <= 9; c++ {
			if refValid(s[:9] + strconv.Itoa(c)) {
				if ok && d != c {
					t.Fatalf("CheckDigit(%q) = %d, reference %d", s[:9], d, c)
				}
				refOK = true
			}
		}
		if ok != refOK {
			t.Fatalf("CheckDigit(%q) ok = %v, reference %v", s[:9], ok, refOK)
		}
		p, _ := strconv.ParseUint(s[:9], 10, 64)
		a, okA := FromNine(s[:9])
		b, okB := FromPrefix(p)
		if okA != ok || okB != ok || a != b || (ok && !refValid(a)) {
			t.Fatalf("FromNine/FromPrefix(%q) = %q %v / %q %v", s[:9], a, okA, b, okB)
		}
	}
	// About 1 in 11 random numbers passes (the check digit matches 1 in 10
	// of the 10/11 usable prefixes).
	frac := float64(validCount) / float64(n)
	if frac < 0.08 || frac > 0.10 {
		t.Errorf("fraction valid = %.4f, want about 0.0909", frac)
	}
}

func TestRangeNext(t *testing.T) {
	// 999000000 has check digit 10 and must be skipped.
	n, next, ok := TestRange.Next(0)
	if !ok || n != "9990000018" || next != 999000002 {
		t.Fatalf("Next(0) = %q, %d, %v", n, next, ok)
	}
	r := Range{Low: 999999990, High: 999999999}
	seen := map[string]bool{}
	p := r.Low
	for {
		n, np, ok := r.Next(p)
		if !ok {
			if np != r.High+1 {
				t.Errorf("exhausted nextPrefix = %d", np)
			}
			break
		}
		if !IsTest(n) || !r.Contains(n) || seen[n] {
			t.Fatalf("bad or repeated number %q", n)
		}
		seen[n] = true
		p = np
	}
	want := 0
	for q := r.Low; q <= r.High; q++ {
		if _, ok := FromPrefix(q); ok {
			want++
		}
	}
	if len(seen) != want || want == 0 {
		t.Errorf("got %d numbers, want %d", len(seen), want)
	}
	if TestRange.Size() != 1_000_000 {
		t.Errorf("Size = %d", TestRange.Size())
	}
	if TestRange.Contains("9000000009") || !TestRange.Contains("9999999999") {
		t.Error("Contains")
	}
}

func TestTestRangeCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("walks the whole test range")
	}
	count := 0
	p := TestRange.Low
	for {
		_, np, ok := TestRange.Next(p)
		if !ok {
			break
		}
		count++
		p = np
	}
	if count != 909_091 {
		t.Errorf("test range holds %d valid numbers, want 909091", count)
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"9000000009", "9000000008", "9434765919", "", "999000000", "99900000000", "943 476 5919", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Valid(s)
		if got != refValid(s) {
			t.Fatalf("Valid(%q) = %v, reference disagrees", s, got)
		}
		if got {
			if Format(s) != s[0:3]+" "+s[3:6]+" "+s[6:] {
				t.Fatalf("Format(%q) = %q", s, Format(s))
			}
			if Normalize(Format(s)) != s {
				t.Fatalf("Normalize(Format(%q)) round trip failed", s)
			}
			if n, ok := FromNine(s[:9]); !ok || n != s {
				t.Fatalf("FromNine(%q) = %q, %v", s[:9], n, ok)
			}
		}
		_ = Format(s)
		_, _ = CheckDigit(s)
	})
}

func BenchmarkValid(b *testing.B) {
	for b.Loop() {
		Valid("9434765919")
	}
}

func BenchmarkRangeNext(b *testing.B) {
	p := TestRange.Low
	for b.Loop() {
		_, np, ok := TestRange.Next(p)
		if !ok {
			np = TestRange.Low
		}
		p = np
	}
}
