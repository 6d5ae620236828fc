package matching

// date is a parsed, possibly partial, birth date.
type date struct {
	y, m, d int // m, d are 0 when absent
	prec    int // 1 = year, 2 = year-month, 3 = full date
}

// parseDate accepts YYYY, YYYY-MM and YYYY-MM-DD (also with a time part
// after "T", which is ignored). Month and day must be in range.
func parseDate(s string) (date, bool) {
	if len(s) > 10 && s[10] == 'T' {
		s = s[:10]
	}
	num := func(t string) (int, bool) {
		v := 0
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return 0, false
			}
			v = v*10 + int(t[i]-'0')
		}
		return v, true
	}
	var dt date
	var ok bool
	switch len(s) {
	case 4, 7, 10:
	default:
		return dt, false
	}
	if dt.y, ok = num(s[:4]); !ok {
		return dt, false
	}
	dt.prec = 1
	if len(s) >= 7 {
		if s[4] != '-' {
			return dt, false
		}
		if dt.m, ok = num(s[5:7]); !ok || dt.m < 1 || dt.m > 12 {
			return dt, false
		}
		dt.prec = 2
	}
	if len(s) == 10 {
		if s[7] != '-' {
			return dt, false
		}
		if dt.d, ok = num(s[8:10]); !ok || dt.d < 1 || dt.d > daysIn(dt.y, dt.m) {
			return dt, false
		}
		dt.prec = 3
	}
	return dt, true
}

// parseSwappedDate parses YYYY-DD-MM, a full date with day and month the
// wrong way round, and returns it with m and d as written (m holding the
// day). It fails on anything parseDate accepts.
func parseSwappedDate(s string) (date, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return date{}, false
	}
	if _, ok := parseDate(s); ok {
		return date{}, false
	}
	d, ok := parseDate(s[:5] + s[8:10] + "-" + s[5:7])
	if !ok {
		return date{}, false
	}
	return date{y: d.y, m: d.d, d: d.m, prec: 3}, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// digitDiff counts the differing decimal digits of two numbers written
// with width digits.
func digitDiff(a, b, width int) int {
	n := 0
	for i := 0; i < width; i++ {
		if a%10 != b%10 {
			n++
		}
		a, b = a/10, b/10
	}
	return n
}

// digitsSwapped reports whether two 2-digit numbers are each other with
// their digits swapped (12 and 21).
func digitsSwapped(a, b int) bool {
	return a != b && a/10 == b%10 && a%10 == b/10
}

// compareDates grades a query birth date against a candidate's. The query
// may be partial: only the parts it gives are compared ("same year only").
func compareDates(q, c date) float64 {
	prec := q.prec
	if c.prec < prec {
		prec = c.prec
	}
	switch prec {
	case 1:
		if q.y == c.y {
			return 1
		}
		if digitDiff(q.y, c.y, 4) == 1 {
			return 0.5
		}
		return 0
	case 2:
		switch {
		case q.y == c.y && q.m == c.m:
			return 1
		case q.y == c.y:
			return 0.3
		case q.m == c.m && digitDiff(q.y, c.y, 4) == 1:
			return 0.6
		}
		return 0
	}
	// Both full dates.
	if q.y == c.y && q.m == c.m && q.d == c.d {
		if q.prec == 3 && c.prec == 3 {
			return 1
		}
		return 1 // the candidate's date is less precise but agrees
	}
	if q.y == c.y && q.m == c.d && q.d == c.m {
		return 0.85 // day and month transposed
	}
	diffs := digitDiff(q.y, c.y, 4) + digitDiff(q.m, c.m, 2) + digitDiff(q.d, c.d, 2)
	if diffs == 1 {
		return 0.8 // one mistyped digit
	}
	if diffs == 2 && ((q.y == c.y && q.m == c.m && digitsSwapped(q.d, c.d)) ||
		(q.y == c.y && q.d == c.d && digitsSwapped(q.m, c.m)) ||
		(q.m == c.m && q.d == c.d && q.y/100 == c.y/100 && digitsSwapped(q.y%100, c.y%100))) {
		return 0.75 // two adjacent digits swapped
	}
	switch {
	case q.y == c.y && q.m == c.m:
		return 0.4
	case q.y == c.y:
		return 0.2
	}
	return 0
}

// comparePostcode grades two normalised postcodes: equal 1, same outward
// code 0.5, else 0. An empty candidate postcode scores 0.
func comparePostcode(q, c string) float64 {
	if c == "" {
		return 0
	}
	if q == c {
		return 1
	}
	qo, co := Outward(q), Outward(c)
	if qo != "" && qo == co {
		return 0.5
	}
	if len(q) < 5 && q == co {
		return 0.5 // the query gave only an outward code
	}
	return 0
}
