package search

import (
	"math"
	"regexp"
	"time"
)

// MinTime and MaxTime bound open date ranges (Unix milliseconds).
const (
	MinTime int64 = math.MinInt64 / 2
	MaxTime int64 = math.MaxInt64 / 2
)

var datePattern = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// DateRange turns a FHIR date, dateTime or instant into the inclusive range
// of Unix milliseconds it denotes: "2024" is the whole year, "2024-03-01"
// the whole day (UTC when no zone is given), a time to the second that
// second. ok is false when s is not a valid FHIR date.
func DateRange(s string) (lo, hi int64, ok bool) {
	m := datePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	atoi := func(x string) int {
		n := 0
		for _, c := range x {
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := atoi(m[1]), 1, 1
	if m[2] != "" {
		month = atoi(m[2])
		if month < 1 || month > 12 {
			return 0, 0, false
		}
	}
	if m[3] != "" {
		day = atoi(m[3])
		if day < 1 || day > daysIn(year, month) {
			return 0, 0, false
		}
	}
	loc := time.UTC
	if m[8] != "" && m[8] != "Z" {
		sign := 1
		if m[8][0] == '-' {
			sign = -1
		}
		hh, mm := atoi(m[8][1:3]), atoi(m[8][4:6])
		if hh > 14 || mm > 59 {
			return 0, 0, false
		}
		loc = time.FixedZone("", sign*(hh*3600+mm*60))
	}
	hour, min, sec, nsec := 0, 0, 0, 0
	if m[4] != "" {
		hour, min = atoi(m[4]), atoi(m[5])
		if hour > 23 || min > 59 {
			return 0, 0, false
		}
		if m[6] != "" {
			sec = atoi(m[6])
			if sec > 59 {
				return 0, 0, false
			}
		}
		if m[7] != "" {
			frac := m[7][1:]
			for len(frac) < 9 {
				frac += "0"
			}
			nsec = atoi(frac)
		}
	}
	start := time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc)
	var end time.Time
	switch {
	case m[2] == "":
		end = start.AddDate(1, 0, 0)
	case m[3] == "":
		end = start.AddDate(0, 1, 0)
	case m[4] == "":
		end = start.AddDate(0, 0, 1)
	case m[6] == "":
		end = start.Add(time.Minute)
	case m[7] == "":
		end = start.Add(time.Second)
	default:
		return start.UnixMilli(), start.UnixMilli(), true
	}
	return start.UnixMilli(), end.UnixMilli() - 1, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
