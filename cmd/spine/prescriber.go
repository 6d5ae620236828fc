package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/fhir"
)

// The two commands below stand in, on a development or integration
// instance, for what a prescriber has in real life: a private key on a
// smartcard, its public half registered in the directory, and a signing
// service that signs what $prepare answers. A real prescriber's private
// key never leaves them; these keys live in the data folder.

// prescriberKeyPath is where prescriber-key keeps a role's private key.
func prescriberKeyPath(dataDir, role string) string {
	return filepath.Join(auth.KeysDir(dataDir), "prescriber-"+role+".pem")
}

// prescriberKeyCmd: spine prescriber-key --role ID makes an ECDSA P-256
// key pair, registers its public half on the directory's PractitionerRole
// ID (eps.ExtSigningKey, beside any key it holds already, which stay
// valid) and writes the private half (PKCS #8 PEM, readable by its owner
// only) to DATA/keys/prescriber-ID.pem, replacing an earlier one.
func prescriberKeyCmd(args []string) error {
	fs := flag.NewFlagSet("prescriber-key", flag.ExitOnError)
	var sf storageFlags
	sf.register(fs)
	role := fs.String("role", "", "the PractitionerRole (role profile id) that prescribes, e.g. 555021936108 (Dr Carter of the demo directory)")
	fs.Parse(args)
	if *role == "" || filepath.Base(*role) != *role {
		return errors.New("usage: spine prescriber-key --role ROLE_PROFILE_ID [--data DIR] [--db URL]")
	}
	if !auth.IsDevInstance(sf.data) {
		return fmt.Errorf("%s is not a development instance: prescriber keys whose private half lives in the data folder are only for a folder served with spine serve --dev (register real prescribers' public keys through the directory API)", sf.data)
	}
	if err := setupLogging("warn", os.Stderr); err != nil {
		return err
	}
	ctx := context.Background()
	st, srv, err := sf.openServices(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := srv.Directory.Read(ctx, "PractitionerRole", *role)
	if err != nil {
		return fmt.Errorf("PractitionerRole %s: %w", *role, err)
	}
	res, err := fhir.DecodeStored(rec.Body)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := eps.AddSigningKey(res, &key.PublicKey); err != nil {
		return err
	}
	if _, err := eps.PrescriberFromRole(res); err != nil { // as EPS will read it
		return err
	}
	path := prescriberKeyPath(sf.data, *role)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// the key is on disk before the directory names it: a failure between
	// the two leaves an unused file, never a registered key nobody holds
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600); err != nil {
		return err
	}
	if _, err := srv.Directory.Update(ctx, "PractitionerRole", *role, res, rec.Version); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("registering the key on PractitionerRole %s: %w", *role, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	fmt.Printf("registered a new ES256 signing key on PractitionerRole/%s; its private key is in %s\n", *role, path)
	fmt.Println("sign what $prepare answers with: spine sign --role " + *role + " --digest <digest>")
	return nil
}

// signCmd: spine sign --role ID --digest B64 signs a $prepare digest with
// the role's key made by prescriber-key and prints the value of the
// Provenance's signature.data: base64 of the raw ECDSA signature (ASN.1
// DER) over the 32 digest bytes, as a signing service that signs a digest
// answers (docs/api/eps.md, Signing). With --bundle and --prepared it
// takes the digest and timestamp from $prepare's answer and prints the
// prescription-order Bundle with its signature's Provenance added.
func signCmd(args []string) error {
	fs := flag.NewFlagSet("sign", flag.ExitOnError)
	data := fs.String("data", env("SPINE_DATA", "./spine-data"), "data folder holding keys/prescriber-ROLE.pem [SPINE_DATA]")
	role := fs.String("role", "", "the PractitionerRole whose key signs (spine prescriber-key)")
	digest := fs.String("digest", "", "the digest $prepare answered (base64 of 32 bytes)")
	bundle := fs.String("bundle", "", "a prescription-order Bundle (JSON file) to sign, with --prepared")
	prepared := fs.String("prepared", "", "the Parameters $prepare answered for that Bundle (JSON file)")
	fs.Parse(args)
	if *role == "" || filepath.Base(*role) != *role || (*digest == "") == (*bundle == "" || *prepared == "") {
		return errors.New("usage: spine sign --role ROLE_PROFILE_ID (--digest BASE64 | --bundle order.json --prepared prepared.json) [--data DIR]")
	}
	if *digest != "" {
		sig, err := signDigest(*data, *role, *digest)
		if err != nil {
			return err
		}
		fmt.Println(sig)
		return nil
	}
	signed, err := signBundle(*data, *role, *bundle, *prepared)
	if err != nil {
		return err
	}
	fmt.Println(string(signed))
	return nil
}

// signBundle signs the prescription-order Bundle in file bundle with the
// digest and timestamp of $prepare's answer in file prepared, and returns
// the Bundle with the signature's Provenance.
func signBundle(dataDir, role, bundle, prepared string) ([]byte, error) {
	raw, err := os.ReadFile(bundle)
	if err != nil {
		return nil, err
	}
	b, err := fhir.DecodeResource(raw, "Bundle")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bundle, err)
	}
	raw, err = os.ReadFile(prepared)
	if err != nil {
		return nil, err
	}
	digest, when, err := eps.ParsePrepared(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prepared, err)
	}
	sig, err := signDigest(dataDir, role, digest)
	if err != nil {
		return nil, err
	}
	if err := eps.AddSignature(b, sig, when); err != nil {
		return nil, fmt.Errorf("%s: %w", bundle, err)
	}
	return fhir.Marshal(b), nil
}

// signDigest signs a base64 $prepare digest with role's key in dataDir
// and returns the base64 signature.
func signDigest(dataDir, role, digest string) (string, error) {
	d, err := base64.StdEncoding.DecodeString(digest)
	if err != nil || len(d) != sha256.Size {
		return "", fmt.Errorf("the digest must be base64 of %d bytes, as $prepare answers it", sha256.Size)
	}
	path := prescriberKeyPath(dataDir, role)
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w (make one with spine prescriber-key --role %s)", err, role)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return "", fmt.Errorf("%s is not a PKCS #8 PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return "", fmt.Errorf("%s is not an ECDSA key", path)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, key, d)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
