package monitor

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openspine/openspine/internal/audit"
)

// Person is what the monitor needs to know about a patient or a user to
// recognise family and neighbours.
type Person struct {
	Surname  string // family name
	Postcode string // of the home address
	Address  string // first line of the home address (optional)
	// GP is the ODS code of the patient's registered practice (patients
	// only, optional): its access to a restricted patient is explained.
	GP string
}

// Lookups answers the monitor's questions about people. Implementations
// read PDS (patients) and the user directory (users); they are called from
// the evaluation goroutine only, and their answers are cached for a while.
type Lookups interface {
	// Patient returns a patient's surname and address by NHS number;
	// ok is false when the patient is unknown.
	Patient(ctx context.Context, nhsNumber string) (p Person, ok bool, err error)
	// User returns a user's (SDS user id) own surname and home address;
	// ok is false when unknown.
	User(ctx context.Context, userID string) (p Person, ok bool, err error)
	// Restricted reports whether a patient's record is restricted
	// (S-flagged: PDS confidentiality code R).
	Restricted(ctx context.Context, nhsNumber string) (bool, error)
}

// NoLookups knows nobody: the same-name rule and restricted patients are
// inert with it.
type NoLookups struct{}

func (NoLookups) Patient(context.Context, string) (Person, bool, error) { return Person{}, false, nil }
func (NoLookups) User(context.Context, string) (Person, bool, error)    { return Person{}, false, nil }
func (NoLookups) Restricted(context.Context, string) (bool, error)      { return false, nil }

// PersonOf is the Person a request described in its audit record.
func PersonOf(s audit.Subject) Person {
	return Person{Surname: s.Surname, Postcode: s.Postcode, Address: s.Address, GP: s.GP}
}

// prime caches what a record's request learnt of its patients, so that
// the rules need not look them up. A subject whose details are left to
// its Details is kept, until the next record is primed, as a pending
// look-up that Patient makes only if a rule asks (replacing whatever was
// cached of that patient before, which this access may have outdated).
func (c *cachedLookups) prime(subjects map[string]audit.Subject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.pending)
	if len(subjects) == 0 {
		return
	}
	exp := c.now().Add(c.ttl)
	for nhs, s := range subjects {
		if len(c.patients) >= c.max {
			clear(c.patients)
		}
		if len(c.restricted) >= c.max {
			clear(c.restricted)
		}
		c.restricted[nhs] = cachedBool{v: s.Restricted, exp: exp}
		if s.Details != nil {
			delete(c.patients, nhs)
			c.pending[nhs] = s
			continue
		}
		c.patients[nhs] = cachedPerson{p: PersonOf(s), ok: true, exp: exp}
	}
}

// cachedLookups memoises Lookups for ttl (wall clock), up to max entries
// per kind (the cache is emptied when full). Errors are not cached.
type cachedLookups struct {
	l   Lookups
	ttl time.Duration
	max int
	now func() time.Time

	mu         sync.Mutex
	patients   map[string]cachedPerson
	users      map[string]cachedPerson
	restricted map[string]cachedBool
	pending    map[string]audit.Subject // described lazily by the record being evaluated
	folded     []byte                   // holdsNone's buffer (the evaluation goroutine's only)
}

type cachedPerson struct {
	p   Person
	ok  bool
	exp time.Time
}

type cachedBool struct {
	v   bool
	exp time.Time
}

func newCachedLookups(l Lookups, ttl time.Duration, max int, now func() time.Time) *cachedLookups {
	return &cachedLookups{l: l, ttl: ttl, max: max, now: now,
		patients: map[string]cachedPerson{}, users: map[string]cachedPerson{}, restricted: map[string]cachedBool{},
		pending: map[string]audit.Subject{}}
}

func (c *cachedLookups) person(ctx context.Context, m map[string]cachedPerson, key string,
	get func(context.Context, string) (Person, bool, error)) (Person, bool, error) {
	now := c.now()
	c.mu.Lock()
	e, hit := m[key]
	c.mu.Unlock()
	if hit && now.Before(e.exp) {
		return e.p, e.ok, nil
	}
	p, ok, err := get(ctx, key)
	if err != nil {
		lookupErrors.Inc()
		return Person{}, false, err
	}
	c.mu.Lock()
	if len(m) >= c.max {
		clear(m)
	}
	m[key] = cachedPerson{p: p, ok: ok, exp: now.Add(c.ttl)}
	c.mu.Unlock()
	return p, ok, nil
}

func (c *cachedLookups) Patient(ctx context.Context, nhs string) (Person, bool, error) {
	return c.person(ctx, c.patients, nhs, func(ctx context.Context, nhs string) (Person, bool, error) {
		c.mu.Lock()
		pending := c.pending[nhs]
		delete(c.pending, nhs)
		c.mu.Unlock()
		if pending.Details == nil {
			return c.l.Patient(ctx, nhs)
		}
		s, err := pending.Details()
		return PersonOf(s), err == nil, err
	})
}

func (c *cachedLookups) User(ctx context.Context, id string) (Person, bool, error) {
	return c.person(ctx, c.users, id, c.l.User)
}

func (c *cachedLookups) Restricted(ctx context.Context, nhs string) (bool, error) {
	now := c.now()
	c.mu.Lock()
	e, hit := c.restricted[nhs]
	c.mu.Unlock()
	if hit && now.Before(e.exp) {
		return e.v, nil
	}
	v, err := c.l.Restricted(ctx, nhs)
	if err != nil {
		lookupErrors.Inc()
		return false, err
	}
	c.mu.Lock()
	if len(c.restricted) >= c.max {
		clear(c.restricted)
	}
	c.restricted[nhs] = cachedBool{v: v, exp: now.Add(c.ttl)}
	c.mu.Unlock()
	return v, nil
}

// holdsNone tells that the record a request read of patient nhs, whose
// details are pending (see prime), certainly holds no text that folds
// (norm) to any of folded, so that a rule looking for one of them need
// not work the details out. It can tell only when the record's JSON has
// no escape (a backslash): then every string in it stands in it as it
// is, and since norm folds character by character, the fold of any of
// its strings is part of the fold of the whole text. False when it
// cannot tell or the patient is not pending.
func (c *cachedLookups) holdsNone(nhs string, folded ...string) bool {
	c.mu.Lock()
	text := c.pending[nhs].Record
	c.mu.Unlock()
	if text == nil || bytes.IndexByte(text, '\\') >= 0 {
		return false
	}
	c.folded = fold(c.folded[:0], text)
	for _, f := range folded {
		if f == "" || bytes.Contains(c.folded, []byte(f)) {
			return false
		}
	}
	return true
}

// norm folds a name or postcode for comparison: upper case, no spaces or
// punctuation.
func norm(s string) string {
	return string(fold(nil, []byte(s)))
}

// asciiFold is the fold of each ASCII byte: itself upper-cased if a letter
// or a digit, 0 (dropped) otherwise.
var asciiFold = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		switch {
		case c >= 'a' && c <= 'z':
			t[c] = byte(c) - ('a' - 'A')
		case c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			t[c] = byte(c)
		}
	}
	return t
}()

// fold appends to dst the fold of text, character by character: each
// upper-cased (as strings.ToUpper), kept if a letter A-Z, a digit or
// beyond ASCII, dropped otherwise (bytes that are not UTF-8 fold to
// U+FFFD, as ToUpper makes them).
func fold(dst, text []byte) []byte {
	for i := 0; i < len(text); {
		// a run of ASCII, written in place: a byte that folds to nothing
		// is overwritten by the next
		j := len(dst)
		dst = slices.Grow(dst, len(text)-i)
		buf := dst[:j+len(text)-i]
		for ; i < len(text) && text[i] < utf8.RuneSelf; i++ {
			f := asciiFold[text[i]]
			buf[j] = f
			j += (int(f) + 255) >> 8 // 1 unless f is 0
		}
		dst = buf[:j]
		if i == len(text) {
			break
		}
		r, n := utf8.DecodeRune(text[i:])
		i += n
		if u := unicode.ToUpper(r); u >= 'A' && u <= 'Z' || u >= '0' && u <= '9' || u > 127 {
			dst = utf8.AppendRune(dst, u)
		}
	}
	return dst
}
