package eps

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openspine/openspine/internal/trace"
)

func TestShortFormCheckCharacter(t *testing.T) {
	// Examples from the contract and its published example messages.
	for _, id := range []string{"58EFB9-A83008-27693K", "A0548B-A99968-451485", "EB8B1F-A83008-42DC8L",
		"83C40E-A23856-00123W", "24F5DA-A83008-7EFE6Z"} {
		if p := ShortFormProblem(id); p != "" {
			t.Errorf("%s: %s", id, p)
		}
	}
	for id, want := range map[string]string{
		"58EFB9-A83008-27693J": "check", "A0548B-A99968-451484": "check", "58efb9-A83008-27693K": "format",
		"58EFB9A83008-27693K": "format", "58EFB9-A83008-27693": "format", "": "format", "58EFB9-A83008-27693KK": "format",
		"GGGGGG-A83008-27693K": "format",
	} {
		if got := ShortFormProblem(id); got != want {
			t.Errorf("%q: got %q, want %q", id, got, want)
		}
	}
	// '+' is the 37th character.
	for i := 0; i < 2000; i++ {
		id := NewShortFormID("RR8")
		if !ValidShortForm(id) || id[7:13] != "000RR8" {
			t.Fatalf("generated %s", id)
		}
		// Every single-character substitution is detected.
		for j := 0; j < len(id)-1; j++ {
			if id[j] == '-' {
				continue
			}
			for _, c := range "0123456789ABCDEF" {
				if byte(c) == id[j] {
					continue
				}
				bad := id[:j] + string(c) + id[j+1:]
				if ValidShortForm(bad) {
					t.Fatalf("%s → %s not detected", id, bad)
				}
			}
		}
	}
	if PaddedODS("y12345") != "Y12345" || PaddedODS("X26") != "000X26" {
		t.Fatal("padding")
	}
	if !trace.ValidUUID(NewLongFormID()) || trace.ValidUUID("7fc6e3af-fb13-42e9-b6a0-d97bc3e6b76") || !trace.ValidUUID(strings.ToUpper(NewLongFormID())) {
		t.Fatal("uuid")
	}
}

func TestParseSigningKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey})
	for name, s := range map[string]string{"pem": pemKey, "der": base64.StdEncoding.EncodeToString(der), "jwk": string(jwk)} {
		k, err := ParseSigningKey(s)
		if err != nil || !ec.PublicKey.Equal(k) {
			t.Errorf("%s: %v", name, err)
		}
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ = x509.MarshalPKIXPublicKey(&small.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	priv, _ := json.Marshal(jose.JSONWebKey{Key: ec})
	for name, s := range map[string]string{"rsa 1024": base64.StdEncoding.EncodeToString(der), "p-384": base64.StdEncoding.EncodeToString(der384),
		"private jwk": string(priv), "garbage": "not a key"} {
		if _, err := ParseSigningKey(s); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// The key cache parses each text once, keeps no failure, and stays within
// its bound.
func TestSigningKeyCache(t *testing.T) {
	var c keyCache
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	text := base64.StdEncoding.EncodeToString(der)
	k1, err := c.parse(text)
	if err != nil || !ec.PublicKey.Equal(k1) {
		t.Fatalf("parse: %v", err)
	}
	if k2, _ := c.parse(text); k2 != k1 {
		t.Fatal("the same text was parsed again")
	}
	if _, err := c.parse("not a key"); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, ok := c.m["not a key"]; ok {
		t.Fatal("a failure was kept")
	}
	for i := range signingKeysKept + 10 {
		c.m[fmt.Sprint(i)] = k1 // as if parsed
		if len(c.m) >= signingKeysKept {
			c.parse(text + " ") // a new text: the map starts again
		}
	}
	if len(c.m) > signingKeysKept {
		t.Fatalf("%d keys kept, bound %d", len(c.m), signingKeysKept)
	}
}
