package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
)

// Targets are the URLs the scenarios address.
type Targets struct {
	Base     string // the directory's FHIR base, e.g. http://127.0.0.1:PORT/directory/FHIR/R4
	Baseline string // the bare handler's URL
}

func get(u string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	return req, nil
}

// ReadByID reads random stored organisations by id.
func ReadByID(t Targets, ld *Loaded) Builder {
	return func(rng *rand.Rand) (*http.Request, error) {
		i := ld.Good[rng.IntN(len(ld.Good))]
		return get(t.Base + "/Organization/" + ld.IDs[i])
	}
}

// SearchIdentifier searches by the ODS code of a random stored organisation
// (one match).
func SearchIdentifier(t Targets, ld *Loaded) Builder {
	return func(rng *rand.Rand) (*http.Request, error) {
		i := ld.Good[rng.IntN(len(ld.Good))]
		return get(t.Base + "/Organization?identifier=" + url.QueryEscape(ld.Orgs[i].ODS))
	}
}

// SearchName searches by the "<Town> <Kind>" name prefix of a random stored
// organisation, first page of 10 (about n/2000 matches).
func SearchName(t Targets, ld *Loaded) Builder {
	return func(rng *rand.Rand) (*http.Request, error) {
		i := ld.Good[rng.IntN(len(ld.Good))]
		return get(t.Base + "/Organization?name=" + url.QueryEscape(ld.Orgs[i].Prefix) + "&_count=10")
	}
}

// Create posts new organisations one at a time, numbered from *next on
// (shared by the workers, so every ODS code is new).
func Create(t Targets, next *atomic.Int64) Builder {
	return func(rng *rand.Rand) (*http.Request, error) {
		o := Org(int(next.Add(1) - 1))
		req, err := http.NewRequest(http.MethodPost, t.Base+"/Organization", bytes.NewReader(o.Resource()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Accept", "application/fhir+json")
		return req, nil
	}
}

// Baseline gets the bare handler.
func Baseline(t Targets) Builder {
	return func(rng *rand.Rand) (*http.Request, error) {
		return get(t.Baseline)
	}
}

// Probe sends one request of b and describes the answer (for searches: the
// total and the number of entries), so that a scenario that measures the
// wrong thing (empty results, errors) shows before it runs.
func Probe(ctx context.Context, c *http.Client, b Builder) (string, error) {
	req, err := b(rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("%s %s: HTTP %d: %.1000s", req.Method, req.URL.RequestURI(), resp.StatusCode, body)
	}
	var r struct {
		ResourceType string            `json:"resourceType"`
		Total        *int              `json:"total"`
		Entry        []json.RawMessage `json:"entry"`
	}
	json.Unmarshal(body, &r)
	desc := fmt.Sprintf("%s %s -> %d, %d bytes, %s", req.Method, req.URL.RequestURI(), resp.StatusCode, len(body), r.ResourceType)
	if r.ResourceType == "Bundle" {
		total := "absent"
		if r.Total != nil {
			total = fmt.Sprint(*r.Total)
		}
		desc += fmt.Sprintf(" total=%s entries=%d", total, len(r.Entry))
	}
	return desc, nil
}
