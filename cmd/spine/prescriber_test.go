package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"os"
	"testing"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/store/storetest"
)

// TestPrescriberKeyAndSign: prescriber-key registers on the directory's
// PractitionerRole the public half of a key whose private half only its
// owner can read (on a development instance only), and sign's signatures over a $prepare digest verify with
// that registered key, as EPS reads it; a second key joins the first,
// which stays valid; bad input is refused.
func TestPrescriberKeyAndSign(t *testing.T) {
	const role = "555021936108" // Dr Carter of the demo directory
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			sf := storageFlags{data: t.TempDir(), db: "sqlite"}
			if backend == "postgres" {
				sf.db = storetest.NewPostgresSchema(t)
			}
			flags := []string{"--data", sf.data, "--db", sf.db}
			ctx := context.Background()
			keys := func() []*ecdsa.PublicKey { // the keys EPS finds on the role
				t.Helper()
				st, srv, err := sf.openServices(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if _, err := directory.LoadDemo(ctx, srv.Directory); err != nil {
					t.Fatal(err)
				}
				rec, err := srv.Directory.Read(ctx, "PractitionerRole", role)
				if err != nil {
					t.Fatal(err)
				}
				res, err := fhir.DecodeStored(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				p, err := eps.PrescriberFromRole(res)
				if err != nil {
					t.Fatal(err)
				}
				var out []*ecdsa.PublicKey
				for _, k := range p.Keys {
					out = append(out, k.(*ecdsa.PublicKey))
				}
				return out
			}
			if len(keys()) != 0 {
				t.Fatal("the demo role holds a key already")
			}
			// only on a development instance
			if err := prescriberKeyCmd(append(flags, "--role", role)); err == nil {
				t.Fatal("a prescriber key made for a folder that is not a development instance")
			}
			if _, err := auth.OpenDevIdP(sf.data); err != nil { // what spine serve --dev does
				t.Fatal(err)
			}
			digest := make([]byte, 32)
			rand.Read(digest)
			d64 := base64.StdEncoding.EncodeToString(digest)
			verifies := func(k *ecdsa.PublicKey, sig64 string, d []byte) bool {
				sig, err := base64.StdEncoding.DecodeString(sig64)
				return err == nil && ecdsa.VerifyASN1(k, d, sig)
			}

			if err := prescriberKeyCmd(append(flags, "--role", role)); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(prescriberKeyPath(sf.data, role)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("private key file: %v %v", fi, err)
			}
			first := keys()
			sig1, err := signDigest(sf.data, role, d64)
			if err != nil {
				t.Fatal(err)
			}
			other := append([]byte(nil), digest...)
			other[0] ^= 1
			if len(first) != 1 || !verifies(first[0], sig1, digest) || verifies(first[0], sig1, other) {
				t.Fatalf("first key: %d registered, signature verifies %v", len(first), len(first) == 1 && verifies(first[0], sig1, digest))
			}

			// a new key joins the first; the file now holds the new one
			if err := prescriberKeyCmd(append(flags, "--role", role)); err != nil {
				t.Fatal(err)
			}
			both := keys()
			sig2, err := signDigest(sf.data, role, d64)
			if err != nil {
				t.Fatal(err)
			}
			if len(both) != 2 || !verifies(both[0], sig1, digest) || !verifies(both[1], sig2, digest) || verifies(both[0], sig2, digest) {
				t.Fatalf("second key: %d registered", len(both))
			}

			// refusals
			if err := prescriberKeyCmd(append(flags, "--role", "999999999999")); err == nil {
				t.Fatal("a key for a role the directory does not hold")
			}
			if err := prescriberKeyCmd(append(flags, "--role", "../x")); err == nil {
				t.Fatal("a role that is a path")
			}
			if _, err := signDigest(sf.data, role, base64.StdEncoding.EncodeToString(digest[:31])); err == nil {
				t.Fatal("a digest of 31 bytes signed")
			}
			if _, err := signDigest(sf.data, "555021936109", d64); err == nil {
				t.Fatal("signed with a role that has no key")
			}
		})
	}
}
