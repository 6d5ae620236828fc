package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// AlertType is the store type under which alerts are kept.
const AlertType = "_Alert"

// Alert statuses.
const (
	StatusNew          = "new"
	StatusAcknowledged = "acknowledged"
	StatusClosed       = "closed"
)

// Severities.
const (
	SeverityLow    = "low"
	SeverityMedium = "medium"
	SeverityHigh   = "high"
)

// Finding is what a rule reports about one record: the monitor turns
// findings into alerts, adding a finding to an open alert of the same
// rule and key.
type Finding struct {
	Rule     string
	Key      string // what makes two findings the same incident (within Config.Dedupe)
	Severity string
	Summary  string
	Reason   string // e.g. vip, same-surname, wide-search
	Time     time.Time
	Records  []int64 // audit indexes
	User     string
	App      string
	Org      string
	Client   string
	Patients []string
}

// Event is one step of an alert's workflow.
type Event struct {
	At      time.Time `json:"at"`
	By      string    `json:"by,omitempty"`
	Action  string    `json:"action"` // acknowledge, close
	Outcome string    `json:"outcome,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is the state of an alert's delivery to one webhook.
type Delivery struct {
	Webhook     string     `json:"webhook"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
}

// Alert is a stored alert (type _Alert).
type Alert struct {
	ID       string    `json:"id"`
	Version  int64     `json:"version"`
	Updated  time.Time `json:"updated"` // store time of this version
	Created  time.Time `json:"created"` // store time of the first version
	Rule     string    `json:"rule"`
	Key      string    `json:"key"`
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	Reasons  []string  `json:"reasons,omitempty"`
	Status   string    `json:"status"`
	Outcome  string    `json:"outcome,omitempty"`

	User     string   `json:"user,omitempty"`
	App      string   `json:"app,omitempty"`
	Org      string   `json:"org,omitempty"`
	Client   string   `json:"client,omitempty"`
	Patients []string `json:"patients,omitempty"`

	First   time.Time `json:"first"` // time of the first record
	Last    time.Time `json:"last"`  // time of the latest record
	Count   int       `json:"count"` // findings merged into the alert
	Records []int64   `json:"records"`

	Events     []Event    `json:"events,omitempty"`
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// Evidence links an audit record of an alert to its verification.
type Evidence struct {
	Index     int64  `json:"index"`
	Record    string `json:"record"`    // /audit/record/{index}
	Inclusion string `json:"inclusion"` // /audit/proof/inclusion?index=I&size=N
}

// View is an alert as served over HTTP and to webhooks: with the links
// that verify its records against the audit log.
type View struct {
	Alert
	Evidence []Evidence `json:"evidence"`
}

func newView(a *Alert, size int64) View {
	v := View{Alert: *a, Evidence: make([]Evidence, 0, len(a.Records))}
	for _, i := range a.Records {
		n := size
		if n <= i {
			n = i + 1
		}
		v.Evidence = append(v.Evidence, Evidence{Index: i,
			Record:    "/audit/record/" + strconv.FormatInt(i, 10),
			Inclusion: fmt.Sprintf("/audit/proof/inclusion?index=%d&size=%d", i, n)})
	}
	return v
}

// alertID is deterministic: the first record's index and a hash of the
// rule and key, so replaying the same records recreates the same ids.
func alertID(f *Finding) string {
	h := sha256.Sum256([]byte(f.Rule + "\x00" + f.Key))
	var first int64
	if len(f.Records) > 0 {
		first = f.Records[0]
	}
	return strconv.FormatInt(first, 10) + "-" + hex.EncodeToString(h[:5])
}

func (a *Alert) clone() *Alert {
	c := *a
	c.Reasons = slices.Clone(a.Reasons)
	c.Patients = slices.Clone(a.Patients)
	c.Records = slices.Clone(a.Records)
	c.Events = slices.Clone(a.Events)
	c.Deliveries = slices.Clone(a.Deliveries)
	return &c
}

// merge adds a finding to the alert.
func (a *Alert) merge(f *Finding, maxRecords, maxPatients int) {
	a.Count++
	if f.Time.After(a.Last) {
		a.Last = f.Time
	}
	if f.Time.Before(a.First) {
		a.First = f.Time
	}
	if rank(f.Severity) > rank(a.Severity) {
		a.Severity = f.Severity
	}
	if f.Reason != "" && !slices.Contains(a.Reasons, f.Reason) {
		a.Reasons = append(a.Reasons, f.Reason)
	}
	for _, r := range f.Records {
		if len(a.Records) >= maxRecords {
			break
		}
		if !slices.Contains(a.Records, r) {
			a.Records = append(a.Records, r)
		}
	}
	for _, p := range f.Patients {
		if len(a.Patients) >= maxPatients {
			break
		}
		if !slices.Contains(a.Patients, p) {
			a.Patients = append(a.Patients, p)
		}
	}
}

func rank(sev string) int {
	switch sev {
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// Filter selects alerts in a listing.
type Filter struct {
	Status, Rule, User, Patient string
	Since                       time.Time // alerts active (Last) at or after
	Limit                       int       // default 100
}

func (f *Filter) match(a *Alert) bool {
	return (f.Status == "" || a.Status == f.Status) &&
		(f.Rule == "" || a.Rule == f.Rule) &&
		(f.User == "" || a.User == f.User) &&
		(f.Patient == "" || slices.Contains(a.Patients, f.Patient)) &&
		(f.Since.IsZero() || !a.Last.Before(f.Since))
}
