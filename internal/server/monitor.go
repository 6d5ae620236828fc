package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/openspine/openspine/internal/audit"
	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/monitor"
	"github.com/openspine/openspine/internal/pds"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// monitorLookups answers the monitor's questions from PDS (patients) and
// the directory (users). It is asked about every audited access, so it
// decodes only the elements it needs, never the whole record.
type monitorLookups struct {
	pds *pds.Service
	dir *engine.Service
}

func newMonitorLookups(p *pds.Service, dir *engine.Service) *monitorLookups {
	return &monitorLookups{pds: p, dir: dir}
}

func firstString(v []any) string {
	for _, x := range v {
		if s, ok := x.(string); ok {
			return s
		}
	}
	return ""
}

// subject is what PDS says of a patient for the monitor; found is false
// for numbers that are invalid or not on PDS.
func (l *monitorLookups) subject(ctx context.Context, nhs string) (sub audit.Subject, found bool, err error) {
	sub, err = l.pds.Summarise(ctx, nhs)
	if err != nil {
		if st := fhir.AsError(err).Status; st == http.StatusNotFound || st == http.StatusBadRequest {
			return sub, false, nil
		}
		return sub, false, err
	}
	return sub, true, nil
}

func (l *monitorLookups) Patient(ctx context.Context, nhs string) (monitor.Person, bool, error) {
	sub, found, err := l.subject(ctx, nhs)
	return monitor.PersonOf(sub), found, err
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
	sub, _, err := l.subject(ctx, nhs)
	return sub.Restricted, err
}
