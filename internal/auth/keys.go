package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// KeyOptions tune a KeyRing.
type KeyOptions struct {
	// Rotate: a new signing key is made when the newest is older (default 24h).
	Rotate time.Duration
	// Retain: how long a replaced key stays published and trusted after its
	// successor appeared; it must exceed the longest token lifetime
	// (default 12h, which also covers dev tokens).
	Retain time.Duration
	Now    func() time.Time
}

// KeyRing holds the spine's signing keys: PEM files (PKCS#8 EC P-256, mode
// 0600) named spine-<kid>.pem in one folder. The newest key signs; older
// ones verify until Retain after their successor appeared. Maintain (run
// periodically by Run) reloads the folder, rotates and prunes, so several
// processes sharing a data folder agree and rotation needs no restart.
type KeyRing struct {
	dir  string
	opts KeyOptions

	mu         sync.Mutex // serialises Maintain and reloads
	set        atomic.Pointer[keySet]
	lastReload atomic.Int64 // unix nanos
}

type signingKey struct {
	kid     string
	created time.Time
	priv    *ecdsa.PrivateKey
	signer  jose.Signer
}

type keySet struct {
	active *signingKey
	byKID  map[string]*signingKey
	jwks   []byte
}

const keyPrefix, keySuffix = "spine-", ".pem"

// OpenKeyRing loads (or creates) the signing keys in dir, e.g. DATA/keys.
func OpenKeyRing(dir string, opts KeyOptions) (*KeyRing, error) {
	if opts.Rotate <= 0 {
		opts.Rotate = 24 * time.Hour
	}
	if opts.Retain <= 0 {
		opts.Retain = 12 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys folder: %w", err)
	}
	k := &KeyRing{dir: dir, opts: opts}
	if err := k.Maintain(); err != nil {
		return nil, err
	}
	return k, nil
}

// openForSigning loads the keys of dir without rotating or pruning them
// (that is the server's job), making one only when there is none.
func openForSigning(dir string) (*KeyRing, error) {
	k := &KeyRing{dir: dir, opts: KeyOptions{Now: time.Now}}
	keys, err := k.load()
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return OpenKeyRing(dir, KeyOptions{})
	}
	return k, k.publish(keys)
}

// Run calls Maintain every interval (default one minute) until ctx ends.
func (k *KeyRing) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Maintain(); err != nil {
				slog.Error("auth: key maintenance failed", "err", err)
			}
		}
	}
}

// Maintain reloads the keys folder, makes a new signing key when none is
// younger than Rotate, and deletes keys whose successor is older than Retain.
func (k *KeyRing) Maintain() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := k.load()
	if err != nil {
		return err
	}
	now := k.opts.Now()
	if len(keys) == 0 || now.Sub(keys[len(keys)-1].created) >= k.opts.Rotate {
		nk, err := k.generate(now)
		if err != nil {
			return err
		}
		keys = append(keys, nk)
		slog.Info("auth: new signing key", "kid", nk.kid)
	}
	// keys are sorted oldest first; key i is retired when key i+1 appeared.
	kept := keys[:0:0]
	for i, sk := range keys {
		if i+1 < len(keys) && now.Sub(keys[i+1].created) > k.opts.Retain {
			if err := os.Remove(k.path(sk.kid)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			slog.Info("auth: signing key retired", "kid", sk.kid)
			continue
		}
		kept = append(kept, sk)
	}
	return k.publish(kept)
}

// reload re-reads the folder (at most every 5 s): a process that finds an
// unknown kid may be looking at a key another process just made.
func (k *KeyRing) reload() {
	now := time.Now().UnixNano()
	last := k.lastReload.Load()
	if now-last < int64(5*time.Second) || !k.lastReload.CompareAndSwap(last, now) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := k.load()
	if err != nil || len(keys) == 0 {
		return
	}
	k.publish(keys)
}

func (k *KeyRing) path(kid string) string { return filepath.Join(k.dir, keyPrefix+kid+keySuffix) }

func (k *KeyRing) load() ([]*signingKey, error) {
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("keys folder: %w", err)
	}
	var keys []*signingKey
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, keyPrefix) || !strings.HasSuffix(name, keySuffix) {
			continue
		}
		sk, err := readKey(filepath.Join(k.dir, name))
		if err != nil {
			slog.Warn("auth: ignoring unreadable signing key", "file", name, "err", err)
			continue
		}
		keys = append(keys, sk)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].created.Before(keys[j].created) })
	return keys, nil
}

func (k *KeyRing) generate(now time.Time) (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sk, err := newSigningKey(priv, now.UTC().Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	if err := writeKey(k.path(sk.kid), priv, sk.created); err != nil {
		return nil, err
	}
	return sk, nil
}

func (k *KeyRing) publish(keys []*signingKey) error {
	s := &keySet{byKID: map[string]*signingKey{}}
	var pub jose.JSONWebKeySet
	for _, sk := range keys {
		s.byKID[sk.kid] = sk
		s.active = sk
		pub.Keys = append(pub.Keys, jose.JSONWebKey{Key: sk.priv.Public(), KeyID: sk.kid, Algorithm: string(jose.ES256), Use: "sig"})
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return err
	}
	s.jwks = b
	k.set.Store(s)
	return nil
}

// signer returns the active key's signer and kid.
func (k *KeyRing) signer() (jose.Signer, string, error) {
	s := k.set.Load()
	if s == nil || s.active == nil {
		return nil, "", errors.New("auth: no signing key")
	}
	return s.active.signer, s.active.kid, nil
}

// publicKey returns the verification key with this kid.
func (k *KeyRing) publicKey(kid string) (*ecdsa.PublicKey, bool) {
	if sk, ok := k.set.Load().byKID[kid]; ok {
		return &sk.priv.PublicKey, true
	}
	k.reload()
	if sk, ok := k.set.Load().byKID[kid]; ok {
		return &sk.priv.PublicKey, true
	}
	return nil, false
}

// KeyIDs lists the published key ids, oldest first.
func (k *KeyRing) KeyIDs() []string {
	s := k.set.Load()
	ids := make([]string, 0, len(s.byKID))
	for id := range s.byKID {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return s.byKID[ids[i]].created.Before(s.byKID[ids[j]].created) })
	return ids
}

// JWKS returns the public keys as a JSON Web Key Set.
func (k *KeyRing) JWKS() []byte { return k.set.Load().jwks }

// JWKSHandler serves GET /.well-known/jwks.json.
func (k *KeyRing) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		w.Write(k.JWKS())
	})
}

func newSigningKey(priv *ecdsa.PrivateKey, created time.Time) (*signingKey, error) {
	jwk := jose.JSONWebKey{Key: priv.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: kid, created: created, priv: priv, signer: sig}, nil
}

// writeKey stores priv as PKCS#8 PEM with its creation time, atomically, 0600.
func writeKey(path string, priv *ecdsa.PrivateKey, created time.Time) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	blk := &pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Created": created.UTC().Format(time.RFC3339)}, Bytes: der}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := pem.Encode(tmp, blk); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readKey loads an EC private key written by writeKey.
func readKey(path string) (*signingKey, error) {
	priv, created, err := readECKey(path)
	if err != nil {
		return nil, err
	}
	return newSigningKey(priv, created)
}

func readECKey(path string) (*ecdsa.PrivateKey, time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, time.Time{}, errors.New("not a PEM private key")
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, time.Time{}, err
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, time.Time{}, errors.New("not an EC P-256 key")
	}
	created, err := time.Parse(time.RFC3339, blk.Headers["Created"])
	if err != nil {
		return nil, time.Time{}, errors.New("missing or bad Created header")
	}
	return priv, created, nil
}
