package monitor

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/fhir"
)

// Base is the path under which Register serves the alerts.
const Base = "/monitor"

// Register serves the alerts:
//
//	GET  /monitor/alerts?status=&rule=&user=&patient=&since=&_count=
//	GET  /monitor/alerts/{id}
//	POST /monitor/alerts/{id}/acknowledge   {"note": "..."} (optional)
//	POST /monitor/alerts/{id}/close         {"outcome": "...", "note": "..."}
//
// Responses are JSON; errors are OperationOutcomes. Who acknowledged or
// closed is the request's Principal (auth.From). Responses carry an ETag
// (W/"version"); a workflow request with If-Match fails with 412 when the
// alert has changed since.
func (m *Monitor) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Base+"/alerts", m.handleList)
	mux.HandleFunc("GET "+Base+"/alerts/{id}", m.handleGet)
	mux.HandleFunc("POST "+Base+"/alerts/{id}/acknowledge", m.handleAcknowledge)
	mux.HandleFunc("POST "+Base+"/alerts/{id}/close", m.handleClose)
}

var allRules = []string{RuleBreakGlass, RuleRelationshipOverride, RuleFlagged, RuleSameNameAddress,
	RuleVolume, RuleOutOfHours, RuleAuthFailures}

// AllRules lists every rule name.
func AllRules() []string { return slices.Clone(allRules) }

func (m *Monitor) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Status: q.Get("status"), Rule: q.Get("rule"), User: q.Get("user"), Patient: q.Get("patient"), Limit: 100}
	if f.Status != "" && f.Status != StatusNew && f.Status != StatusAcknowledged && f.Status != StatusClosed {
		fhir.WriteError(w, r, fhir.Invalid("status %q: use new, acknowledged or closed", f.Status))
		return
	}
	if f.Rule != "" && !slices.Contains(allRules, f.Rule) {
		fhir.WriteError(w, r, fhir.Invalid("rule %q: use one of %s", f.Rule, strings.Join(allRules, ", ")))
		return
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t, err = time.Parse(time.DateOnly, s)
		}
		if err != nil {
			fhir.WriteError(w, r, fhir.Invalid("since %q: use YYYY-MM-DD or an RFC 3339 time", s))
			return
		}
		f.Since = t
	}
	if s := q.Get("_count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			fhir.WriteError(w, r, fhir.Invalid("_count %q: use 1 to 1000", s))
			return
		}
		f.Limit = n
	}
	list, err := m.Alerts(r.Context(), f)
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	size := m.logSize(r.Context())
	views := make([]View, len(list))
	for i := range list {
		views[i] = newView(&list[i], size)
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(views), "alerts": views})
}

func (m *Monitor) handleGet(w http.ResponseWriter, r *http.Request) {
	a, err := m.read(r.Context(), r.PathValue("id"))
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	m.writeAlert(w, r, a)
}

func (m *Monitor) writeAlert(w http.ResponseWriter, r *http.Request, a *Alert) {
	w.Header().Set("ETag", `W/"`+strconv.FormatInt(a.Version, 10)+`"`)
	writeJSON(w, http.StatusOK, newView(a, m.logSize(r.Context())))
}

type workflowBody struct {
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
}

func (m *Monitor) workflowRequest(w http.ResponseWriter, r *http.Request) (body workflowBody, ifMatch int64, err error) {
	raw, err := fhir.ReadBody(w, r, 64<<10)
	if err != nil {
		return body, 0, err
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return body, 0, fhir.Invalid("the body must be {\"outcome\": ..., \"note\": ...}: %v", err)
		}
	}
	if len(body.Note) > 4000 || !utf8.ValidString(body.Note) {
		return body, 0, fhir.Invalid("note must be valid UTF-8 of at most 4000 bytes").At("note")
	}
	if h := r.Header.Get("If-Match"); h != "" {
		v := strings.Trim(strings.TrimPrefix(strings.TrimSpace(h), "W/"), `"`)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return body, 0, fhir.Invalid("If-Match %q: use W/\"<version>\"", h)
		}
		ifMatch = n
	}
	return body, ifMatch, nil
}

// actorName names who is acting on an alert.
func actorName(r *http.Request) string {
	p := auth.From(r.Context())
	switch {
	case p == nil:
		return ""
	case p.UserID != "":
		return p.UserID
	case p.AppID != "":
		return "app:" + p.AppID
	}
	return ""
}

func conflict(id, status, action string) error {
	return fhir.NewError(http.StatusConflict, fhir.CodeConflict, "alert %s is %s: it cannot be %s", id, status, action)
}

func (m *Monitor) handleAcknowledge(w http.ResponseWriter, r *http.Request) {
	body, ifMatch, err := m.workflowRequest(w, r)
	if err == nil && body.Outcome != "" {
		err = fhir.Invalid("acknowledging takes no outcome").At("outcome")
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	id, by := r.PathValue("id"), actorName(r)
	a, err := m.update(r.Context(), id, ifMatch, func(a *Alert) error {
		if a.Status != StatusNew {
			return conflict(id, a.Status, "acknowledged")
		}
		a.Status = StatusAcknowledged
		a.Events = append(a.Events, Event{At: m.now().UTC(), By: by, Action: "acknowledge", Note: body.Note})
		return nil
	})
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	m.writeAlert(w, r, a)
}

func (m *Monitor) handleClose(w http.ResponseWriter, r *http.Request) {
	body, ifMatch, err := m.workflowRequest(w, r)
	if err == nil && !slices.Contains(m.cfg.Outcomes, body.Outcome) {
		err = fhir.Invalid("outcome %q: use one of %s", body.Outcome, strings.Join(m.cfg.Outcomes, ", ")).At("outcome")
	}
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	id, by := r.PathValue("id"), actorName(r)
	a, err := m.update(r.Context(), id, ifMatch, func(a *Alert) error {
		if a.Status == StatusClosed {
			return conflict(id, a.Status, "closed again")
		}
		a.Status, a.Outcome = StatusClosed, body.Outcome
		a.Events = append(a.Events, Event{At: m.now().UTC(), By: by, Action: "close", Outcome: body.Outcome, Note: body.Note})
		return nil
	})
	if err != nil {
		fhir.WriteError(w, r, err)
		return
	}
	m.writeAlert(w, r, a)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}
