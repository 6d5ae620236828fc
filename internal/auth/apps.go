package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Application is a registered API consumer. It authenticates with keys
// whose public half it registered (inline JWKS or a JWKS URL).
type Application struct {
	ID      string          `json:"id"`                 // the API key / client id: iss and sub of its assertions
	Name    string          `json:"name"`               // shown in audit
	OrgODS  string          `json:"org"`                // ODS code of the owning organisation
	Mode    string          `json:"mode"`               // application-restricted or user-restricted
	JWKS    json.RawMessage `json:"jwks,omitempty"`     // public keys as a JWK Set
	JWKSURL string          `json:"jwks_url,omitempty"` // or where to fetch them (https)
	Rate    int             `json:"rate,omitempty"`     // sustained requests/s per service (0: DefaultRate)
	Burst   int             `json:"burst,omitempty"`    // bucket size (0: DefaultBurst)
	// Allowed lists "service:action" pairs the application may use: all it
	// may do when application-restricted; a cap on its users when
	// user-restricted (empty: no cap beyond the user's role).
	Allowed []string `json:"allowed,omitempty"`
}

var appIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Validate checks an application record before it is registered.
func (a *Application) Validate() error {
	if !appIDPattern.MatchString(a.ID) {
		return errors.New("id must be 1 to 128 letters, digits or . _ -")
	}
	if a.Mode != ModeApplication && a.Mode != ModeUser {
		return fmt.Errorf("mode must be %s or %s", ModeApplication, ModeUser)
	}
	if (len(a.JWKS) == 0) == (a.JWKSURL == "") {
		return errors.New("exactly one of jwks and jwks_url is required")
	}
	if len(a.JWKS) > 0 {
		if _, err := parseClientJWKS(a.JWKS); err != nil {
			return err
		}
	}
	if a.JWKSURL != "" {
		u, err := url.Parse(a.JWKSURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			return errors.New("jwks_url must be an https URL")
		}
	}
	if a.Rate < 0 || a.Burst < 0 {
		return errors.New("rate and burst must not be negative")
	}
	for _, p := range a.Allowed {
		if s, act, ok := strings.Cut(p, ":"); !ok || s == "" || act == "" {
			return fmt.Errorf("allowed entry %q must be service:action", p)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrUnknownApplication is returned by a Registry for an unknown id.
var ErrUnknownApplication = errors.New("unknown application")

// Registry finds registered applications.
type Registry interface {
	// Application returns the application, or ErrUnknownApplication.
	Application(ctx context.Context, id string) (*Application, error)
}

// MemRegistry is an in-memory Registry for tests and development.
type MemRegistry struct {
	mu   sync.RWMutex
	apps map[string]*Application
}

// NewMemRegistry returns a registry holding apps (validated).
func NewMemRegistry(apps ...*Application) (*MemRegistry, error) {
	r := &MemRegistry{apps: map[string]*Application{}}
	for _, a := range apps {
		if err := r.Put(a); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Put validates and registers (or replaces) an application.
func (r *MemRegistry) Put(a *Application) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("application %q: %w", a.ID, err)
	}
	c := *a
	r.mu.Lock()
	r.apps[a.ID] = &c
	r.mu.Unlock()
	return nil
}

// Application implements Registry.
func (r *MemRegistry) Application(_ context.Context, id string) (*Application, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if a, ok := r.apps[id]; ok {
		c := *a
		return &c, nil
	}
	return nil, ErrUnknownApplication
}

// ReplayCache remembers client assertion ids (jti) until they expire.
type ReplayCache interface {
	// Seen records key until the given time and reports whether it was
	// already recorded (a replay). Implementations must be atomic.
	Seen(ctx context.Context, key string, until time.Time) (bool, error)
}

// ErrReplayCacheFull is returned when the cache cannot record a key
// without forgetting one still valid: the token endpoint fails closed.
var ErrReplayCacheFull = errors.New("replay cache full")

// MemReplayCache is a bounded in-memory ReplayCache for one process.
type MemReplayCache struct {
	mu   sync.Mutex
	max  int
	m    map[string]time.Time
	now  func() time.Time
	next time.Time // next sweep
}

// NewMemReplayCache holds at most max keys (default 100,000).
func NewMemReplayCache(max int) *MemReplayCache {
	if max <= 0 {
		max = 100000
	}
	return &MemReplayCache{max: max, m: map[string]time.Time{}, now: time.Now}
}

// Seen implements ReplayCache.
func (c *MemReplayCache) Seen(_ context.Context, key string, until time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if exp, ok := c.m[key]; ok && now.Before(exp) {
		return true, nil
	}
	if len(c.m) >= c.max || now.After(c.next) {
		for k, exp := range c.m {
			if !now.Before(exp) {
				delete(c.m, k)
			}
		}
		c.next = now.Add(time.Minute)
		if len(c.m) >= c.max {
			return false, ErrReplayCacheFull
		}
	}
	c.m[key] = until
	return false, nil
}

// parseClientJWKS parses a client's public keys, refusing private,
// symmetric and weak keys.
func parseClientJWKS(b []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("jwks: no keys")
	}
	out := &jose.JSONWebKeySet{}
	for _, k := range set.Keys {
		if k.KeyID == "" {
			return nil, errors.New("jwks: every key needs a kid")
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			k = k.Public()
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < 2048 {
				return nil, errors.New("jwks: RSA keys must have at least 2048 bits")
			}
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() {
				return nil, errors.New("jwks: EC keys must be P-256")
			}
		default:
			return nil, errors.New("jwks: only RSA and EC P-256 public keys are accepted")
		}
		out.Keys = append(out.Keys, k)
	}
	if len(out.Keys) == 0 {
		return nil, errors.New("jwks: no signing keys")
	}
	return out, nil
}

// jwksCache fetches key sets from registered URLs (never from URLs a token
// names: jku and x5u are ignored), keeps them for ttl, and refetches at
// most every minRefresh when a kid is missing.
type jwksCache struct {
	client     *http.Client
	ttl        time.Duration
	minRefresh time.Duration
	mu         sync.Mutex
	m          map[string]*jwksEntry
}

type jwksEntry struct {
	mu      sync.Mutex
	set     *jose.JSONWebKeySet
	fetched time.Time
}

func newJWKSCache(client *http.Client) *jwksCache {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &jwksCache{client: client, ttl: 10 * time.Minute, minRefresh: 30 * time.Second, m: map[string]*jwksEntry{}}
}

// key returns the keys with kid from the set at url.
func (c *jwksCache) key(ctx context.Context, url, kid string) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	e := c.m[url]
	if e == nil {
		e = &jwksEntry{}
		c.m[url] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	stale := e.set == nil || now.Sub(e.fetched) > c.ttl
	if !stale && len(e.set.Key(kid)) == 0 && now.Sub(e.fetched) > c.minRefresh {
		stale = true
	}
	if stale {
		set, err := c.fetch(ctx, url)
		if err != nil && e.set == nil {
			return nil, err
		}
		if err == nil {
			e.set, e.fetched = set, now
		}
	}
	return e.set.Key(kid), nil
}

func (c *jwksCache) fetch(ctx context.Context, url string) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return parseClientJWKS(b)
}
