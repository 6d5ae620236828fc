package audit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func do(t *testing.T, h http.Handler, method, target string) (int, string, []byte) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, w.Header().Get("Content-Type"), body
}

func TestHTTP(t *testing.T) {
	st := newMemStorage()
	l := newTestLog(t, st)
	mux := http.NewServeMux()
	l.Register(mux)
	pub := testSigner(t).PublicKey()

	if code, _, body := do(t, mux, "GET", "/audit/checkpoint"); code != 404 || !strings.Contains(string(body), "RESOURCE_NOT_FOUND") {
		t.Fatalf("no checkpoint yet: %d %s", code, body)
	}
	appendN(t, l, 30, 3)
	code, ctype, text := do(t, mux, "POST", "/audit/checkpoint")
	if code != 200 || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("POST checkpoint: %d %s %s", code, ctype, text)
	}
	cp30, err := ParseCheckpoint(text, pub)
	if err != nil || cp30.Size != 30 {
		t.Fatalf("POST checkpoint: %v %+v", err, cp30)
	}
	appendN(t, l, 45, 3)
	do(t, mux, "POST", "/audit/checkpoint")
	_, _, text = do(t, mux, "GET", "/audit/checkpoint")
	cp75, err := ParseCheckpoint(text, pub)
	if err != nil || cp75.Size != 75 {
		t.Fatalf("GET checkpoint: %v %+v", err, cp75)
	}

	// an outside party: fetch the record, prove it is in the checkpoint
	code, _, body := do(t, mux, "GET", "/audit/record/17")
	var rec Record
	if code != 200 || json.Unmarshal(body, &rec) != nil || rec.Index != 17 {
		t.Fatalf("record 17: %d %s", code, body)
	}
	code, ctype, raw := do(t, mux, "GET", "/audit/proof/inclusion?index=17&size=75")
	var inc InclusionResponse
	if code != 200 || ctype != "application/json" || json.Unmarshal(raw, &inc) != nil {
		t.Fatalf("inclusion: %d %s", code, raw)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	if !bytes.Equal(leaf, inc.LeafHash) || !bytes.Equal(inc.Root, cp75.Root) {
		t.Fatal("inclusion: leaf hash or root differ")
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 17, 75, leaf, inc.Hashes, cp75.Root); err != nil {
		t.Fatal("inclusion proof:", err)
	}
	if !strings.Contains(string(raw), `"hashes":["`) {
		t.Fatalf("hashes not base64 strings: %s", raw)
	}
	// a witness holding the first checkpoint checks the second extends it
	code, _, raw = do(t, mux, "GET", "/audit/proof/consistency?first=30&second=75")
	var cons ConsistencyResponse
	if code != 200 || json.Unmarshal(raw, &cons) != nil {
		t.Fatalf("consistency: %d %s", code, raw)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 30, 75, cons.Hashes, cp30.Root, cp75.Root); err != nil {
		t.Fatal("consistency proof:", err)
	}
	// defaults: the current size
	if code, _, raw = do(t, mux, "GET", "/audit/proof/consistency?first=30"); code != 200 || json.Unmarshal(raw, &cons) != nil || cons.Second != 75 {
		t.Fatalf("consistency to the current size: %d %s", code, raw)
	}

	// export: every checkpoint and the key
	code, _, raw = do(t, mux, "GET", "/audit/checkpoints")
	var e Export
	if code != 200 || json.Unmarshal(raw, &e) != nil || len(e.Checkpoints) != 2 || e.VerifierKey != testSigner(t).VerifierKey() {
		t.Fatalf("export: %d %s", code, raw)
	}
	_, vpub, _ := ParseVerifierKey(e.VerifierKey)
	for _, c := range e.Checkpoints {
		if _, err := ParseCheckpoint([]byte(c), vpub); err != nil {
			t.Fatal("exported checkpoint:", err)
		}
	}

	for _, bad := range []struct {
		target string
		code   int
		issue  string
	}{
		{"/audit/record/75", 404, "RESOURCE_NOT_FOUND"},
		{"/audit/record/-1", 400, "INVALID_VALUE"},
		{"/audit/record/x", 400, "INVALID_VALUE"},
		{"/audit/proof/inclusion?size=10", 400, "INVALID_VALUE"},
		{"/audit/proof/inclusion?index=10&size=10", 400, "INVALID_VALUE"},
		{"/audit/proof/inclusion?index=1&size=76", 400, "INVALID_VALUE"},
		{"/audit/proof/inclusion?index=a", 400, "INVALID_VALUE"},
		{"/audit/proof/consistency?first=40&second=30", 400, "INVALID_VALUE"},
		{"/audit/proof/consistency?second=30", 400, "INVALID_VALUE"},
		{"/audit/proof/consistency?first=1&second=99", 400, "INVALID_VALUE"},
	} {
		code, ctype, body := do(t, mux, "GET", bad.target)
		if code != bad.code || !strings.Contains(string(body), bad.issue) || !strings.Contains(string(body), "OperationOutcome") || !strings.Contains(ctype, "json") {
			t.Errorf("%s: %d %s %s", bad.target, code, ctype, body)
		}
	}

	// a record inserted behind the log's back: no more signing
	body, _ = json.Marshal(&Record{Index: 75, Service: "pds", Action: "read"})
	st.setRow(75, memRow{body, rfc6962.DefaultHasher.HashLeaf(body)})
	if code, _, body := do(t, mux, "POST", "/audit/checkpoint"); code != 503 || !strings.Contains(string(body), "added to the store by another writer") {
		t.Fatalf("checkpoint over an altered log: %d %s", code, body)
	}
}
