package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/openspine/openspine/internal/fhir"
)

// Register adds the log's endpoints to mux (access control is the
// caller's):
//
//	GET  /audit/checkpoint    the latest signed checkpoint (text/plain)
//	POST /audit/checkpoint    sign a checkpoint now and return it
//	GET  /audit/checkpoints   every stored checkpoint, for export (Export)
//	GET  /audit/proof/inclusion?index=I&size=N      (size: default current)
//	GET  /audit/proof/consistency?first=M&second=N  (second: default current)
//	GET  /audit/record/{index}  the stored record, byte for byte (its RFC
//	                            6962 leaf hash is SHA-256(0x00 || body))
//
// Proofs are JSON with base64 hashes; verify them against a checkpoint you
// hold, not against the root the response also carries.
func (l *Log) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /audit/checkpoint", l.getCheckpoint)
	mux.HandleFunc("POST /audit/checkpoint", l.postCheckpoint)
	mux.HandleFunc("GET /audit/checkpoints", l.getCheckpoints)
	mux.HandleFunc("GET /audit/proof/inclusion", l.getInclusion)
	mux.HandleFunc("GET /audit/proof/consistency", l.getConsistency)
	mux.HandleFunc("GET /audit/record/{index}", l.getRecord)
}

// Export is the document GET /audit/checkpoints and spine audit export give:
// the key to verify with (note verifier key and raw base64) and every
// stored checkpoint, oldest first.
type Export struct {
	Origin      string   `json:"origin"`
	VerifierKey string   `json:"verifier_key"`
	PublicKey   string   `json:"public_key"`
	Checkpoints []string `json:"checkpoints"`
}

// ExportCheckpoints builds the export of the checkpoints stored in st.
func ExportCheckpoints(ctx context.Context, st Storage, origin string, pub []byte) (*Export, error) {
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	e := &Export{Origin: origin, VerifierKey: VerifierKey(origin, pub), PublicKey: base64.StdEncoding.EncodeToString(pub), Checkpoints: make([]string, len(cps))}
	for i, c := range cps {
		e.Checkpoints[i] = string(c)
	}
	return e, nil
}

// InclusionResponse is the body of GET /audit/proof/inclusion.
type InclusionResponse struct {
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	LeafHash []byte   `json:"leaf_hash"`
	Hashes   [][]byte `json:"hashes"`
	Root     []byte   `json:"root"`
}

// ConsistencyResponse is the body of GET /audit/proof/consistency.
type ConsistencyResponse struct {
	First  int64    `json:"first"`
	Second int64    `json:"second"`
	Hashes [][]byte `json:"hashes"`
	Root   []byte   `json:"root"` // of the second tree
}

func writeText(w http.ResponseWriter, text []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(text)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

func (l *Log) getCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp := l.Latest()
	if cp == nil {
		fhir.WriteError(w, r, fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "no checkpoint has been signed yet"))
		return
	}
	writeText(w, cp)
}

func (l *Log) postCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := l.Checkpoint(r.Context())
	if errors.Is(err, ErrTampered) {
		err = fhir.NewError(http.StatusServiceUnavailable, fhir.CodeServiceUnavailable, "%v", err)
	}
	if err != nil {
		fhir.WriteError(w, r, err) // other failures: a 500, their text logged only
		return
	}
	writeText(w, cp)
}

func (l *Log) getCheckpoints(w http.ResponseWriter, r *http.Request) {
	e, err := ExportCheckpoints(r.Context(), l.st, l.signer.Name(), l.signer.PublicKey())
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	writeJSON(w, e)
}

// param parses a non-negative integer query parameter; def < 0: required.
func param(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		if def < 0 {
			return 0, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "the %s parameter is required", name).At(name)
		}
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "%s must be a non-negative integer", name).At(name)
	}
	return n, nil
}

func (l *Log) getInclusion(w http.ResponseWriter, r *http.Request) {
	cur, _ := l.Root()
	index, err := param(r, "index", -1)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	size, err := param(r, "size", cur)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if size > cur || index >= size {
		fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "index %d is not in a tree of size %d (the log has %d records)", index, size, cur))
		return
	}
	ctx := r.Context()
	res := InclusionResponse{Index: index, Size: size}
	if res.Hashes, err = l.InclusionProof(ctx, index, size); err == nil {
		if res.LeafHash, err = l.LeafHash(ctx, index); err == nil {
			res.Root, err = l.RootAt(ctx, size)
		}
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	writeJSON(w, res)
}

func (l *Log) getConsistency(w http.ResponseWriter, r *http.Request) {
	cur, _ := l.Root()
	first, err := param(r, "first", -1)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	second, err := param(r, "second", cur)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	if second > cur || first > second {
		fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "want first <= second <= %d (the log's size)", cur))
		return
	}
	ctx := r.Context()
	res := ConsistencyResponse{First: first, Second: second}
	if res.Hashes, err = l.ConsistencyProof(ctx, first, second); err == nil {
		res.Root, err = l.RootAt(ctx, second)
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	writeJSON(w, res)
}

func (l *Log) getRecord(w http.ResponseWriter, r *http.Request) {
	index, err := strconv.ParseInt(r.PathValue("index"), 10, 64)
	if err != nil || index < 0 {
		fhir.WriteError(w, r, fhir.NewError(http.StatusBadRequest, fhir.CodeInvalidValue, "the record index must be a non-negative integer"))
		return
	}
	if size, _ := l.Root(); index >= size {
		fhir.WriteError(w, r, fhir.NewError(http.StatusNotFound, fhir.CodeResourceNotFound, "there is no audit record %d (the log has %d)", index, size))
		return
	}
	body, err := l.Record(r.Context(), index)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}
