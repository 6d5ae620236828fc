package trace

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewTimeUUIDIsAVersion7UUIDOrderedByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 2000; i++ {
		id := NewTimeUUID()
		m := uuidPattern.FindStringSubmatch(id)
		if m == nil || m[1] != "7" {
			t.Fatalf("%q is not a version 7 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q generated twice", id)
		}
		seen[id] = true
		// the first 48 bits are the time: never earlier than the previous id's
		if prev != "" && id[:13] < prev[:13] {
			t.Fatalf("%q sorts before the earlier %q", id, prev)
		}
		prev = id
	}
	before := NewTimeUUID()
	time.Sleep(3 * time.Millisecond)
	if after := NewTimeUUID(); after <= before {
		t.Fatalf("%q generated later sorts before %q", after, before)
	}
	lo := time.Now().UnixMilli()
	id := NewTimeUUID()
	hi := time.Now().UnixMilli()
	ms, err := strconv.ParseInt(id[:8]+id[9:13], 16, 64)
	if err != nil || ms < lo || ms > hi {
		t.Fatalf("%q carries %d ms, want between %d and %d (%v)", id, ms, lo, hi, err)
	}
}

func TestNewUUIDIsARandomVersion4UUID(t *testing.T) {
	a, b := NewUUID(), NewUUID()
	for _, id := range []string{a, b} {
		if m := uuidPattern.FindStringSubmatch(id); m == nil || m[1] != "4" {
			t.Fatalf("%q is not a version 4 UUID", id)
		}
	}
	if a == b {
		t.Fatalf("two calls gave %q", a)
	}
}
