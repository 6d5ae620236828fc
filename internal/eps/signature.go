package eps

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/trace"
)

// Signature algorithms a prescriber's key may use.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// signatureTime is the format of the signing time ($prepare's timestamp,
// Provenance.signature.when).
const signatureTime = "2006-01-02T15:04:05+00:00"

// digest is SHA-256 over the canonical form.
func digest(canonical []byte) []byte {
	d := sha256.Sum256(canonical)
	return d[:]
}

// algorithmOf names the algorithm for a public key.
func algorithmOf(k crypto.PublicKey) string {
	switch k.(type) {
	case *rsa.PublicKey:
		return AlgRS256
	}
	return AlgES256
}

var errBadSignature = errors.New("signature does not verify")

// verifySignature checks data (Provenance.signature.data: base64 of a
// compact JWS whose payload is the base64 digest, or of a raw signature
// over the digest) against any of keys.
func verifySignature(data string, dig []byte, keys []crypto.PublicKey) error {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimSpace(data)); err != nil {
			return errBadSignature
		}
	}
	want := base64.StdEncoding.EncodeToString(dig)
	if compactJWS(raw) {
		jws, err := jose.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256})
		if err != nil {
			return errBadSignature
		}
		for _, k := range keys {
			payload, err := jws.Verify(k)
			if err != nil {
				continue
			}
			if string(payload) == want || bytes.Equal(payload, dig) {
				return nil
			}
			return errBadSignature // a valid signature over something else
		}
		return errBadSignature
	}
	for _, k := range keys {
		switch pk := k.(type) {
		case *ecdsa.PublicKey:
			if len(raw) == 64 {
				r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
				if ecdsa.Verify(pk, dig, r, s) {
					return nil
				}
			} else if ecdsa.VerifyASN1(pk, dig, raw) {
				return nil
			}
		case *rsa.PublicKey:
			if rsa.VerifyPKCS1v15(pk, crypto.SHA256, dig, raw) == nil || rsa.VerifyPSS(pk, crypto.SHA256, dig, raw, nil) == nil {
				return nil
			}
		}
	}
	return errBadSignature
}

// compactJWS reports whether b looks like a compact JWS (three base64url parts).
func compactJWS(b []byte) bool {
	if bytes.Count(b, []byte{'.'}) != 2 {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func invalidSignature(format string, args ...any) error {
	return fhir.Invalid(format, args...).At("Provenance.signature.data")
}

// checkSignature verifies the order's signature by the prescriber.
func (s *Service) checkSignature(o *order, pr *Prescriber) error {
	sig := o.Signature
	if sig == nil || str(sig, "data") == "" {
		return epsError(CodeMissingSignature, "the prescription has no signature (Provenance.signature.data)")
	}
	if who := str(obj(sig, "who"), "reference"); who != "" && who != str(obj(o.MRs[0], "requester"), "reference") {
		return invalidSignature("Signature is invalid: the signer is not the prescription's requester")
	}
	when := str(sig, "when")
	t, ok := dateTime(when)
	if !ok {
		return fhir.Invalid("Provenance.signature.when must be the signing time from $prepare").At("Provenance.signature.when")
	}
	if t.After(s.now().Add(5 * time.Minute)) {
		return invalidSignature("Signature is invalid: it is dated in the future")
	}
	if len(pr.Keys) == 0 {
		return invalidSignature("Signature is invalid: no signing key is registered for role %s", pr.RoleProfileID)
	}
	if err := verifySignature(str(sig, "data"), digest(o.canonical(when)), pr.Keys); err != nil {
		return invalidSignature("Signature is invalid.")
	}
	return nil
}

// prescriber looks the order's prescriber up in the directory and checks
// that the role exists, is active, belongs to the organisation named and
// may prescribe.
func (s *Service) prescriber(ctx context.Context, o *order) (*Prescriber, error) {
	pr, err := s.keys.Prescriber(ctx, o.Prescriber.Role)
	if err != nil {
		return nil, err
	}
	if pr == nil {
		return nil, fhir.NewError(http.StatusBadRequest, fhir.CodeResourceNotFound, "practitioner role %s is not in the directory", o.Prescriber.Role).At("PractitionerRole.identifier")
	}
	if !pr.Active {
		return nil, fhir.NewError(http.StatusForbidden, fhir.CodeAccessDenied, "practitioner role %s is not active", pr.RoleProfileID)
	}
	if pr.OrgODS != "" && !strings.EqualFold(pr.OrgODS, o.Prescriber.ODS) {
		return nil, fhir.Invalid("practitioner role %s belongs to %s, not %s", pr.RoleProfileID, pr.OrgODS, o.Prescriber.ODS).At("PractitionerRole.organization")
	}
	if o.Prescriber.User != "" && pr.UserID != "" && pr.UserID != o.Prescriber.User {
		return nil, fhir.Invalid("practitioner role %s is not held by user %s", pr.RoleProfileID, o.Prescriber.User).At("Practitioner.identifier")
	}
	if !prescribingRoles[pr.JobRole] {
		return nil, fhir.NewError(http.StatusForbidden, fhir.CodeAccessDenied, "job role %s may not prescribe", pr.JobRole)
	}
	return pr, nil
}

// prescribingRoles are the SDS job roles that can hold prescribing
// rights (which activities the selected role carries is the policy's
// concern, checked on the access token).
var prescribingRoles = map[string]bool{
	"R8000": true, // Clinical Practitioner
	"R8001": true, // Nurse
	"R8002": true, // Nurse Manager
	"R8003": true, // Health Professional
	"R1290": true, // Pharmacist
	"R9804": true, // Clinical Pharmacist
}

// handlePrepare answers what the prescriber must sign.
func (s *Service) handlePrepare(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if err := checkHeaders(r); err != nil {
			return err
		}
		if err := fhir.CheckContentType(r, "application/fhir+json", "application/json"); err != nil {
			return err
		}
		body, err := fhir.ReadBody(w, r, maxBody)
		if err != nil {
			return err
		}
		v, err := fhir.DecodeValue(body)
		if err != nil {
			return err
		}
		doc, _ := v.(map[string]any)
		b, err := parseBundle(doc)
		if err != nil {
			return err
		}
		if ev := b.event(); ev != EventOrder {
			return fhir.Invalid("$prepare takes a prescription-order message, not %q", ev).At("MessageHeader.eventCoding")
		}
		o, err := parseOrder(b, false)
		if err != nil {
			return err
		}
		if err := s.checkPrescriberIsCaller(r.Context(), o); err != nil {
			return err
		}
		pr, err := s.prescriber(r.Context(), o)
		if err != nil {
			return err
		}
		alg := AlgES256
		if len(pr.Keys) > 0 {
			alg = algorithmOf(pr.Keys[0])
		}
		when := s.now().Format(signatureTime)
		d := base64.StdEncoding.EncodeToString(digest(o.canonical(when)))
		fhir.WriteResource(w, http.StatusOK, map[string]any{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "digest", "valueString": d},
			map[string]any{"name": "timestamp", "valueString": when},
			map[string]any{"name": "algorithm", "valueString": alg},
		}})
		return nil
	}()
	if err != nil {
		writeError(w, r, err)
	}
}

// handleVerifySignature verifies the signatures of prescription-order
// messages: one message Bundle, or a Bundle of them (as released).
func (s *Service) handleVerifySignature(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if err := checkHeaders(r); err != nil {
			return err
		}
		if err := fhir.CheckContentType(r, "application/fhir+json", "application/json"); err != nil {
			return err
		}
		body, err := fhir.ReadBody(w, r, 8*maxBody)
		if err != nil {
			return err
		}
		v, err := fhir.DecodeValue(body)
		if err != nil {
			return err
		}
		doc, _ := v.(map[string]any)
		if str(doc, "resourceType") != "Bundle" {
			return fhir.Invalid("a Bundle was expected").At("resourceType")
		}
		var msgs []map[string]any
		if str(doc, "type") == "message" {
			msgs = append(msgs, doc)
		} else {
			for _, e := range arr(doc, "entry") {
				if res := obj(e, "resource"); str(res, "resourceType") == "Bundle" {
					msgs = append(msgs, res)
				}
			}
		}
		if len(msgs) == 0 {
			return fhir.Missing("no prescription-order message to verify")
		}
		var params []any
		for _, m := range msgs {
			params = append(params, map[string]any{"name": "result", "part": []any{
				map[string]any{"name": "messageIdentifier", "valueIdentifier": map[string]any{"system": SystemUUID, "value": orDash(str(obj(m, "identifier"), "value"))}},
				map[string]any{"name": "result", "resource": s.verifyOne(r.Context(), m)},
			}})
		}
		fhir.WriteResource(w, http.StatusOK, map[string]any{"resourceType": "Parameters", "parameter": params})
		return nil
	}()
	if err != nil {
		writeError(w, r, err)
	}
}

func (s *Service) verifyOne(ctx context.Context, m map[string]any) map[string]any {
	err := func() error {
		b, err := parseBundle(m)
		if err != nil {
			return err
		}
		o, err := parseOrder(b, false)
		if err != nil {
			return err
		}
		pr, err := s.keys.Prescriber(ctx, o.Prescriber.Role)
		if err != nil {
			return err
		}
		if pr == nil {
			return invalidSignature("Signature is invalid: practitioner role %s is unknown", o.Prescriber.Role)
		}
		return s.checkSignature(o, pr)
	}()
	if err != nil {
		_, oo := outcome(err)
		return oo
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
		"severity": "information", "code": "informational", "diagnostics": "Signature is valid."}}}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// signingKeys keeps the keys parsed from the directory's text: a
// prescriber's role is read for every prescription they sign, and parsing
// their key again each time (x509 checks that the point is on the curve)
// cost ~30 µs.
var signingKeys keyCache

// signingKeysKept bounds the keys kept (the map starts again when full).
const signingKeysKept = 4096

type keyCache struct {
	mu sync.Mutex
	m  map[string]crypto.PublicKey
}

// parse is ParseSigningKey, once for each text: keys are read-only once
// parsed, so one may serve every request. A text that fails is not kept.
func (c *keyCache) parse(s string) (crypto.PublicKey, error) {
	c.mu.Lock()
	k, ok := c.m[s]
	c.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := ParseSigningKey(s)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= signingKeysKept {
		c.m = make(map[string]crypto.PublicKey)
	}
	c.m[s] = k
	c.mu.Unlock()
	return k, nil
}

// ParseSigningKey reads a prescriber's public key as registered in the
// directory: a JWK (JSON), a PEM block (PUBLIC KEY or CERTIFICATE), or
// base64 DER (SubjectPublicKeyInfo or certificate). Only P-256 ECDSA and
// RSA (at least 2048 bits) keys are accepted.
func ParseSigningKey(s string) (crypto.PublicKey, error) {
	s = strings.TrimSpace(s)
	var key any
	switch {
	case strings.HasPrefix(s, "{"):
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON([]byte(s)); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		if !jwk.IsPublic() {
			return nil, errors.New("signing key: a private key was given; register the public key")
		}
		key = jwk.Key
	default:
		der := []byte(nil)
		if blk, _ := pem.Decode([]byte(s)); blk != nil {
			der = blk.Bytes
		} else if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			der = b
		} else {
			return nil, errors.New("signing key: not a JWK, PEM or base64 DER")
		}
		if k, err := x509.ParsePKIXPublicKey(der); err == nil {
			key = k
		} else if c, cerr := x509.ParseCertificate(der); cerr == nil {
			key = c.PublicKey
		} else {
			return nil, fmt.Errorf("signing key: %w", err)
		}
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, errors.New("signing key: ECDSA keys must be P-256")
		}
		return k, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, errors.New("signing key: RSA keys must have at least 2048 bits")
		}
		return k, nil
	}
	return nil, fmt.Errorf("signing key: %T keys are not supported (P-256 ECDSA or RSA)", key)
}

// AddSignature adds to a prescription-order Bundle the Provenance that
// carries its signature, as a prescribing system does after $prepare:
// data is Provenance.signature.data (see verifySignature), when the
// timestamp $prepare answered; the signer and agent are the requester of
// the MedicationRequests, and every MedicationRequest is a target. An
// error when the Bundle holds no MedicationRequest with a requester.
func AddSignature(bundle map[string]any, data, when string) error {
	entries, _ := bundle["entry"].([]any)
	var roleRef string
	var targets []any
	for _, e := range entries {
		em, _ := e.(map[string]any)
		res, _ := em["resource"].(map[string]any)
		if res["resourceType"] != "MedicationRequest" {
			continue
		}
		if ref := str(obj(res, "requester"), "reference"); ref != "" {
			roleRef = ref
		}
		targets = append(targets, map[string]any{"reference": em["fullUrl"]})
	}
	if roleRef == "" {
		return errors.New("the Bundle has no MedicationRequest with a requester to sign for")
	}
	bundle["entry"] = append(entries, map[string]any{"fullUrl": "urn:uuid:" + trace.NewUUID(), "resource": map[string]any{
		"resourceType": "Provenance", "target": targets, "recorded": when,
		"agent": []any{map[string]any{"who": map[string]any{"reference": roleRef}}},
		"signature": []any{map[string]any{
			"type": []any{map[string]any{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}},
			"when": when, "who": map[string]any{"reference": roleRef}, "data": data}},
	}})
	return nil
}

// AddSigningKey registers pub on a directory PractitionerRole resource: an
// ExtSigningKey extension holding its base64 DER SubjectPublicKeyInfo
// (what ParseSigningKey reads back), beside any key the role holds.
func AddSigningKey(role map[string]any, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	ext, _ := role["extension"].([]any)
	role["extension"] = append(ext, map[string]any{"url": ExtSigningKey, "valueString": base64.StdEncoding.EncodeToString(der)})
	return nil
}

// ParsePrepared reads what $prepare answered (handlePrepare's Parameters):
// the digest to sign (base64) and the signing time, for the Provenance.
func ParsePrepared(data []byte) (digest, timestamp string, err error) {
	var params struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name        string `json:"name"`
			ValueString string `json:"valueString"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(data, &params); err != nil {
		return "", "", fmt.Errorf("not the Parameters $prepare answers: %w", err)
	}
	for _, p := range params.Parameter {
		switch p.Name {
		case "digest":
			digest = p.ValueString
		case "timestamp":
			timestamp = p.ValueString
		}
	}
	if params.ResourceType != "Parameters" || digest == "" || timestamp == "" {
		return "", "", errors.New("not the Parameters $prepare answers: a digest and a timestamp are needed")
	}
	return digest, timestamp, nil
}
