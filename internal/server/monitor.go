package server

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/monitor"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// monitorLookups answers the monitor's questions from PDS (patients) and
// the directory (users). The monitor asks twice about each patient (person,
// restricted): the last records read are kept briefly so that is one read.
type monitorLookups struct {
	pds *pds.Service
	dir *engine.Service

	mu     sync.Mutex
	recent map[string]fhir.Resource
}

func newMonitorLookups(p *pds.Service, dir *engine.Service) *monitorLookups {
	return &monitorLookups{pds: p, dir: dir, recent: map[string]fhir.Resource{}}
}

// patient reads a patient once for both questions; nil when unknown.
func (l *monitorLookups) patient(ctx context.Context, nhs string) (fhir.Resource, error) {
	l.mu.Lock()
	res, ok := l.recent[nhs]
	l.mu.Unlock()
	if ok {
		return res, nil
	}
	_, res, err := l.pds.Read(ctx, nhs)
	if err != nil {
		if s := fhir.AsError(err).Status; s == http.StatusNotFound || s == http.StatusBadRequest {
			return nil, nil
		}
		return nil, err
	}
	l.mu.Lock()
	if len(l.recent) >= 4096 {
		l.recent = map[string]fhir.Resource{}
	}
	l.recent[nhs] = res
	l.mu.Unlock()
	return res, nil
}

func firstString(v []any) string {
	for _, x := range v {
		if s, ok := x.(string); ok {
			return s
		}
	}
	return ""
}

func (l *monitorLookups) Patient(ctx context.Context, nhs string) (monitor.Person, bool, error) {
	res, err := l.patient(ctx, nhs)
	if res == nil || err != nil {
		return monitor.Person{}, false, err
	}
	var p monitor.Person
	for _, n := range search.Walk(res, "name") {
		if m, ok := n.(map[string]any); ok && (m["use"] == "usual" || p.Surname == "") {
			p.Surname, _ = m["family"].(string)
		}
	}
	for _, a := range search.Walk(res, "address") {
		if m, ok := a.(map[string]any); ok && (m["use"] == "home" || m["use"] == nil) {
			p.Postcode, _ = m["postalCode"].(string)
			p.Address = firstString(search.Walk(m, "line"))
			break
		}
	}
	for _, id := range search.Walk(res, "generalPractitioner.identifier") {
		if m, ok := id.(map[string]any); ok {
			p.GP, _ = m["value"].(string)
		}
	}
	return p, true, nil
}

func (l *monitorLookups) User(ctx context.Context, userID string) (monitor.Person, bool, error) {
	if !fhir.ValidID(userID) {
		return monitor.Person{}, false, nil
	}
	rec, err := l.dir.Store.Read(ctx, "Practitioner", userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
		return monitor.Person{}, false, nil
	}
	if err != nil {
		return monitor.Person{}, false, err
	}
	res, err := fhir.DecodeStored(rec.Body)
	if err != nil {
		return monitor.Person{}, false, err
	}
	var p monitor.Person
	for _, n := range search.Walk(res, "name") {
		if m, ok := n.(map[string]any); ok {
			p.Surname, _ = m["family"].(string)
			break
		}
	}
	for _, a := range search.Walk(res, "address") {
		if m, ok := a.(map[string]any); ok {
			p.Postcode, _ = m["postalCode"].(string)
			p.Address = firstString(search.Walk(m, "line"))
			break
		}
	}
	return p, true, nil
}

func (l *monitorLookups) Restricted(ctx context.Context, nhs string) (bool, error) {
	res, err := l.patient(ctx, nhs)
	if res == nil || err != nil {
		return false, err
	}
	for _, s := range search.Walk(res, "meta.security") {
		if m, ok := s.(map[string]any); ok && m["code"] == "R" {
			return true, nil
		}
	}
	return false, nil
}
