package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Checkpoints are signed notes in the format of golang.org/x/mod/sumdb/note
// carrying a C2SP tlog-checkpoint body, with the signing time as the first
// extension line:
//
//	openspine/audit
//	1234
//	<base64 of the 32-byte root hash>
//	2026-11-24T17:26:13Z
//
//	— openspine/audit <base64 of keyhash(4 bytes) || Ed25519 signature(64 bytes)>
//
// The signature covers every byte before the blank line (newline included).
// keyhash is the first 4 bytes of SHA-256(name || "\n" || 0x01 || public key),
// as in the note package, so the note package's Ed25519 verifier accepts the
// checkpoints given the key from Signer.VerifierKey. Signature lines by other
// keys (witness cosignatures) are ignored by ParseCheckpoint.

// DefaultOrigin names the log: the first line of its checkpoints and the name
// of the signing key.
const DefaultOrigin = "openspine/audit"

// KeyFile is where OpenSigner keeps the signing key, under the data folder.
const KeyFile = "keys/audit-ed25519.pem"

const algEd25519 = 1 // the note package's algorithm byte for Ed25519

// Signer signs checkpoints with an Ed25519 key.
type Signer struct {
	name string
	key  ed25519.PrivateKey
	hash uint32
}

// NewSigner returns a signer for the log named origin (no spaces, no '+').
func NewSigner(origin string, key ed25519.PrivateKey) (*Signer, error) {
	if origin == "" || strings.ContainsAny(origin, "+") || strings.IndexFunc(origin, unicode.IsSpace) >= 0 || !utf8.ValidString(origin) {
		return nil, fmt.Errorf("audit: invalid log name %q", origin)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: invalid Ed25519 key")
	}
	pub := key.Public().(ed25519.PublicKey)
	return &Signer{name: origin, key: key, hash: keyHash(origin, pub)}, nil
}

// OpenSigner loads the key at DIR/keys/audit-ed25519.pem (PKCS#8 PEM),
// creating it (mode 0600) on first use.
func OpenSigner(dataDir string) (*Signer, error) {
	path := filepath.Join(dataDir, KeyFile)
	key, err := readKey(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = createKey(path)
		if errors.Is(err, os.ErrExist) { // created meanwhile by another process
			key, err = readKey(path)
		}
	}
	if err != nil {
		return nil, err
	}
	return NewSigner(DefaultOrigin, key)
}

// LoadPublicKey reads the public half of the key OpenSigner keeps, without
// creating one.
func LoadPublicKey(dataDir string) (ed25519.PublicKey, error) {
	key, err := readKey(filepath.Join(dataDir, KeyFile))
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit key %s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit key %s: not an Ed25519 key", path)
	}
	return key, nil
}

func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	// write to a temporary file, then link it into place: never a partial key
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		if err = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return key, nil
}

// Name is the log's origin, the signing key's name.
func (s *Signer) Name() string { return s.name }

// PublicKey is the key checkpoints are verified with.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// VerifierKey is the public key in the note package's text form
// (name+hash+base64(0x01 || key)), to give to outside parties.
func (s *Signer) VerifierKey() string { return VerifierKey(s.name, s.PublicKey()) }

// VerifierKey formats a public key as a note verifier key.
func VerifierKey(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, pub), base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, pub...)))
}

// ParseVerifierKey parses a note verifier key made by VerifierKey.
func ParseVerifierKey(vkey string) (name string, pub ed25519.PublicKey, err error) {
	parts := strings.SplitN(vkey, "+", 3) // the base64 key may hold a '+'
	if len(parts) != 3 {
		return "", nil, errors.New("audit: malformed verifier key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return "", nil, errors.New("audit: verifier key is not an Ed25519 key")
	}
	name, pub = parts[0], ed25519.PublicKey(raw[1:])
	if h, err := strconv.ParseUint(parts[1], 16, 32); err != nil || len(parts[1]) != 8 || uint32(h) != keyHash(name, pub) {
		return "", nil, errors.New("audit: verifier key hash does not match")
	}
	return name, pub, nil
}

func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write([]byte{algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Checkpoint is a parsed, verified checkpoint.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   []byte
	Time   time.Time
	Text   []byte // the signed note as stored
}

// sign makes the signed checkpoint of a tree.
func (s *Signer) sign(size int64, root []byte, t time.Time) []byte {
	return s.signNote(fmt.Appendf(nil, "%s\n%d\n%s\n%s\n", s.name, size, base64.StdEncoding.EncodeToString(root), t.UTC().Format(time.RFC3339)))
}

// signNote signs text (which ends in a newline) as a note.
func (s *Signer) signNote(text []byte) []byte {
	sig := ed25519.Sign(s.key, text)
	var kh [4]byte
	binary.BigEndian.PutUint32(kh[:], s.hash)
	out := append(clip(text), "\n\u2014 "+s.name+" "...)
	out = base64.StdEncoding.AppendEncode(out, append(kh[:], sig...))
	return append(out, '\n')
}

func clip(b []byte) []byte { return b[:len(b):len(b)] }

// ParseCheckpoint checks the checkpoint's signature with pub (it must carry
// a signature line by the key named after its origin) and parses it.
func ParseCheckpoint(text []byte, pub ed25519.PublicKey) (Checkpoint, error) {
	origin, _, _ := strings.Cut(string(text), "\n")
	body, err := openNote(text, origin, pub)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: want origin, size, root hash and time lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	t, err := time.Parse(time.RFC3339, lines[3])
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad time %q", lines[3])
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Time: t, Text: text}, nil
}

// openNote checks that the signed note carries a valid signature by the key
// (name, pub) and returns its text. Signatures by other keys are ignored.
func openNote(note []byte, name string, pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("no public key")
	}
	if !utf8.Valid(note) || bytes.ContainsFunc(note, func(r rune) bool { return r < 0x20 && r != '\n' }) {
		return nil, errors.New("not a signed note")
	}
	split := bytes.LastIndex(note, []byte("\n\n"))
	if split < 0 || !bytes.HasSuffix(note, []byte("\n")) {
		return nil, errors.New("not a signed note")
	}
	text, sigs := note[:split+1], note[split+2:]
	want := keyHash(name, pub)
	verified := false
	for _, line := range strings.SplitAfter(string(sigs), "\n") {
		if line == "" {
			continue
		}
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		if !ok || !strings.HasSuffix(rest, "\n") {
			return nil, errors.New("malformed signature line")
		}
		signer, b64, ok := strings.Cut(strings.TrimSuffix(rest, "\n"), " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(sig) < 5 {
			return nil, errors.New("malformed signature line")
		}
		if signer != name || binary.BigEndian.Uint32(sig) != want {
			continue // another key: a witness's cosignature, say
		}
		if len(sig) != 4+ed25519.SignatureSize || !ed25519.Verify(pub, text, sig[4:]) {
			return nil, errors.New("invalid signature")
		}
		verified = true
	}
	if !verified {
		return nil, fmt.Errorf("no signature by the %s key", name)
	}
	return text, nil
}

// Checkpoint signs the current size and root, stores the checkpoint and
// returns its text. It refuses when the log found at start, or since, that
// its stored leaves were altered (see Tampered): it never signs a rewritten
// history.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	// A log that shares its storage first takes in what others appended.
	// A queued log never catches up here: its batches are committed (and
	// visible) before they are durable and join the tree, so the stored
	// size runs ahead of the tree while they are in flight. Records
	// inserted behind its back are taken in when its next batch, stored
	// after them, joins the tree (see joinTree).
	if l.queued == nil {
		if err := l.catchUp(ctx); err != nil {
			return nil, err
		}
	}
	if err := l.Tampered(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	size, root := l.Root()
	text := l.signer.sign(size, root, l.opts.Now())
	if err := l.st.PutCheckpoint(ctx, size, text); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	l.mu.Lock()
	l.latest, l.latestSize = text, size
	l.mu.Unlock()
	checkpointsSigned.Inc()
	return text, nil
}

// Latest returns the latest checkpoint this log signed or found at start
// (nil if none).
func (l *Log) Latest() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.latest
}

// Run signs a checkpoint at once if the log grew since the latest one (or
// there is none), then every interval when the size changed, until ctx is
// done. Failures are logged.
func (l *Log) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		l.mu.RLock()
		due := l.latest == nil || l.latestSize != int64(l.tree.End())
		l.mu.RUnlock()
		if due {
			if _, err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				l.opts.Logger.Error("audit checkpoint failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
