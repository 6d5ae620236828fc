package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example key and note of golang.org/x/mod/sumdb/note: the same bytes
// mean any note verifier accepts our checkpoints.
func TestNoteFormatMatchesSumdbNote(t *testing.T) {
	const (
		vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
		skey = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz" // from PRIVATE+KEY+PeterNeumann+c74f20a3+...
		text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
		want = text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
	)
	seed, _ := base64.StdEncoding.DecodeString(skey)
	s, err := NewSigner("PeterNeumann", ed25519.NewKeyFromSeed(seed[1:]))
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey() != vkey {
		t.Fatalf("verifier key %s, want %s", s.VerifierKey(), vkey)
	}
	if got := s.signNote([]byte(text)); string(got) != want {
		t.Fatalf("signed note:\n%s\nwant:\n%s", got, want)
	}
	name, pub, err := ParseVerifierKey(vkey)
	if err != nil || name != "PeterNeumann" || !pub.Equal(s.PublicKey()) {
		t.Fatalf("ParseVerifierKey: %s %v", name, err)
	}
	if got, err := openNote([]byte(want), name, pub); err != nil || string(got) != text {
		t.Fatalf("openNote: %v", err)
	}
	// a key whose base64 holds a '+'
	plus, _ := NewSigner(DefaultOrigin, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)))
	for i := byte(0); !strings.Contains(plus.VerifierKey()[len(DefaultOrigin)+10:], "+"); i++ {
		plus, _ = NewSigner(DefaultOrigin, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{i}, 32)))
	}
	if _, pub, err := ParseVerifierKey(plus.VerifierKey()); err != nil || !pub.Equal(plus.PublicKey()) {
		t.Fatalf("ParseVerifierKey(%s): %v", plus.VerifierKey(), err)
	}
	for _, bad := range []string{"PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "PeterNeumann+c74f20a3", "x+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"} {
		if _, _, err := ParseVerifierKey(bad); err == nil {
			t.Errorf("ParseVerifierKey(%q) succeeded", bad)
		}
	}
}

func TestOpenSigner(t *testing.T) {
	dir := t.TempDir()
	s1, err := OpenSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	pem, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if !bytes.HasPrefix(pem, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Fatalf("not a PKCS#8 PEM:\n%s", pem)
	}
	s2, err := OpenSigner(dir)
	if err != nil || !s2.PublicKey().Equal(s1.PublicKey()) {
		t.Fatalf("reopened key differs: %v", err)
	}
	pub, err := LoadPublicKey(dir)
	if err != nil || !pub.Equal(s1.PublicKey()) {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	if _, err := LoadPublicKey(t.TempDir()); err == nil {
		t.Fatal("LoadPublicKey made up a key")
	}
}

func TestCheckpoint(t *testing.T) {
	st := newMemStorage()
	now := time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC)
	l, err := NewLog(st, testSigner(t), LogOptions{Logger: quiet, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 42, 3)
	text, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	size, root := l.Root()
	lines := strings.Split(string(text), "\n")
	if len(lines) != 7 || lines[0] != DefaultOrigin || lines[1] != "42" || lines[2] != base64.StdEncoding.EncodeToString(root) ||
		lines[3] != "2026-11-24T17:00:00Z" || lines[4] != "" || !strings.HasPrefix(lines[5], "\u2014 "+DefaultOrigin+" ") || lines[6] != "" {
		t.Fatalf("checkpoint:\n%s", text)
	}
	pub := testSigner(t).PublicKey()
	cp, err := ParseCheckpoint(text, pub)
	if err != nil || cp.Size != size || !bytes.Equal(cp.Root, root) || !cp.Time.Equal(now) || cp.Origin != DefaultOrigin {
		t.Fatalf("parsed %+v, %v", cp, err)
	}
	if stored, _ := st.Checkpoints(context.Background()); len(stored) != 1 || !bytes.Equal(stored[0], text) || !bytes.Equal(l.Latest(), text) {
		t.Fatal("checkpoint not stored")
	}
	// a witness's cosignature is ignored
	other, _ := NewSigner("witness.example", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)))
	body := text[:bytes.Index(text, []byte("\n\n"))+1]
	cosigned := append(bytes.Clone(text), other.signNote(body)[len(body)+1:]...)
	if _, err := ParseCheckpoint(cosigned, pub); err != nil {
		t.Fatalf("cosigned checkpoint: %v\n%s", err, cosigned)
	}

	_, otherPriv, _ := ed25519.GenerateKey(nil)
	forger, _ := NewSigner(DefaultOrigin, otherPriv)
	forgeries := map[string][]byte{
		"size changed":     bytes.Replace(text, []byte("\n42\n"), []byte("\n41\n"), 1),
		"root changed":     bytes.Replace(text, []byte(lines[2]), []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 1),
		"time changed":     bytes.Replace(text, []byte("17:00:00Z"), []byte("18:00:00Z"), 1),
		"other key":        forger.sign(42, root, now),
		"no signature":     text[:bytes.Index(text, []byte("\n\n"))+2],
		"unsigned":         text[:bytes.Index(text, []byte("\n\n"))+1],
		"signature broken": bytes.Replace(text, []byte(lines[5]), []byte(lines[5][:len(lines[5])-6]+"AAAA=="), 1),
		"origin changed":   bytes.Replace(text, []byte(DefaultOrigin+"\n"), []byte("evil/audit\n"), 1),
	}
	for name, f := range forgeries {
		if _, err := ParseCheckpoint(f, pub); err == nil {
			t.Errorf("%s: the forged checkpoint verifies:\n%s", name, f)
		}
	}
}

func TestRun(t *testing.T) {
	st := newMemStorage()
	l := newTestLog(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, 5*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for l.Latest() == nil && time.Now().Before(deadline) { // the first one, at size 0
		time.Sleep(time.Millisecond)
	}
	appendN(t, l, 5, 1)
	for time.Now().Before(deadline) {
		if cp, err := ParseCheckpoint(l.Latest(), l.signer.PublicKey()); err == nil && cp.Size == 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	before, _ := st.Checkpoints(context.Background())
	time.Sleep(30 * time.Millisecond) // no new checkpoints while the size stays
	cancel()
	<-done
	cps, _ := st.Checkpoints(context.Background())
	if len(cps) != len(before) {
		t.Fatalf("%d checkpoints signed while the size stayed", len(cps)-len(before))
	}
	first, _ := ParseCheckpoint(cps[0], l.signer.PublicKey())
	last, _ := ParseCheckpoint(cps[len(cps)-1], l.signer.PublicKey())
	if first.Size != 0 || last.Size != 5 {
		t.Fatalf("checkpoints from size %d to %d, want 0 to 5", first.Size, last.Size)
	}
}
