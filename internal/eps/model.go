package eps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/engine"
	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// Internal resource types (never served as such).
const (
	// prescriptionType holds one prescription: the signed order, the state
	// of each issue and item, the dispenser and the history. Its id is the
	// long-form prescription id; every change is a read and an Apply with
	// IfMatch on the version read, so concurrent messages serialise.
	prescriptionType = "_Prescription"
	// shortFormType maps a short-form id to its prescription; created in
	// the same transaction, it makes short-form ids unique.
	shortFormType = "_PrescriptionShortForm"
	// orderType keeps a prescription's signed order Bundle as it was
	// received, under the prescription's id; created in the same
	// transaction. It never changes, so it is stored apart from the
	// prescription, which every message rewrites (and keeps a copy of in
	// its history): the order is most of a prescription's bytes.
	orderType = "_PrescriptionOrder"
)

// Treatment types (courseOfTherapyType).
const (
	TreatmentAcute            = "acute"
	TreatmentContinuous       = "continuous"
	TreatmentRepeatDispensing = "continuous-repeat-dispensing"
)

// itemDef is a line item as prescribed.
type itemDef struct {
	ID       string      `json:"id"`
	Code     string      `json:"code"`
	Display  string      `json:"display"`
	Quantity json.Number `json:"quantity"`
	Unit     string      `json:"unit,omitempty"`
	Schedule string      `json:"schedule,omitempty"` // controlled drug schedule, e.g. CD2
}

// event is one entry of a prescription's history.
type event struct {
	At      time.Time `json:"at"`
	Event   string    `json:"event"`
	Issue   int       `json:"issue,omitempty"`
	Status  string    `json:"status,omitempty"` // issue status after the event
	Items   []string  `json:"items,omitempty"`  // item statuses after the event
	Org     string    `json:"org,omitempty"`
	Role    string    `json:"role,omitempty"`
	Message string    `json:"message,omitempty"` // identifier of the message that caused it
	Outcome string    `json:"outcome,omitempty"` // cancellation outcome (R-xxxx)
	Reason  string    `json:"reason,omitempty"`
	Item    string    `json:"item,omitempty"`
	// Replaces: the dispense notification an amendment replaced
	Replaces string `json:"replaces,omitempty"`
}

// Events in the history.
const (
	evCreated       = "created"
	evReleased      = "released"
	evReturned      = "returned"
	evDispensed     = "dispense-notification"
	evDispenseAmend = "dispense-amended"
	evWithdrawn     = "withdrawn"
	evClaimed       = "claimed"
	evClaimAmend    = "claim-amended"
	evCancel        = "cancellation"
	evExpired       = "expired"
	evIssueOpened   = "issue-available"
)

// prescription is the stored record.
type prescription struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Meta         *recordMeta `json:"meta,omitempty"`
	ShortForm    string      `json:"shortForm"`
	OrderMessage string      `json:"orderMessage"`
	Patient      string      `json:"patient"`
	Prescriber   party       `json:"prescriber"`
	Nominated    string      `json:"nominated,omitempty"`
	SiteType     string      `json:"siteType,omitempty"`
	Treatment    string      `json:"treatment"`
	Authored     time.Time   `json:"authored"`
	Signed       time.Time   `json:"signed"`
	SupplyDays   int         `json:"supplyDays,omitempty"`
	Items        []itemDef   `json:"items"`
	Issues       []issue     `json:"issues"`
	History      []event     `json:"history"`
	// Order is the signed order in prescriptions stored before it was
	// kept apart (orderType); empty in the others (see ordersOf).
	Order json.RawMessage `json:"order,omitempty"`

	version int64
}

type recordMeta struct {
	VersionID   string `json:"versionId"`
	LastUpdated string `json:"lastUpdated"`
}

// current is the issue a dispenser acts on: the latest that is not a
// future instance.
func (p *prescription) current() *issue {
	for i := len(p.Issues) - 1; i >= 0; i-- {
		if !future(p.Issues[i].Status) || i == 0 {
			return &p.Issues[i]
		}
	}
	return nil
}

// next is the issue after is (nil for the last).
func (p *prescription) next(is *issue) *issue {
	if is.Number < len(p.Issues) {
		return &p.Issues[is.Number]
	}
	return nil
}

func (p *prescription) record(ev event) {
	p.History = append(p.History, ev)
}

// dispensers lists every organisation that has held the prescription.
func (p *prescription) dispensers() []string {
	seen := map[string]bool{}
	var out []string
	add := func(ods string) {
		if ods != "" && !seen[ods] {
			seen[ods] = true
			out = append(out, ods)
		}
	}
	for _, is := range p.Issues {
		if is.Dispenser != nil {
			add(is.Dispenser.ODS)
		}
	}
	for _, ev := range p.History {
		if ev.Event == evReleased {
			add(ev.Org)
		}
	}
	return out
}

// index computes the index rows of a prescription.
func (p *prescription) index() []search.Entry {
	tok := func(param, code string) search.Entry {
		return search.Entry{Param: param, Type: search.Token, Code: code}
	}
	date := func(param string, t time.Time) search.Entry {
		ms := t.UnixMilli()
		return search.Entry{Param: param, Type: search.Date, Lo: ms, Hi: ms}
	}
	out := []search.Entry{tok("shortform", p.ShortForm), tok("patient", p.Patient),
		tok("prescriber", p.Prescriber.Role), tok("prescriber-org", p.Prescriber.ODS), date("authored", p.Authored)}
	cur := p.current()
	if cur != nil {
		out = append(out, tok("status", cur.Status))
		if cur.Status == StatusToBeDispensed && p.Nominated != "" {
			out = append(out, tok("nominated", p.Nominated), date("available", cur.NotBefore))
		}
	}
	for _, ods := range p.dispensers() {
		out = append(out, tok("dispenser", ods))
	}
	var expires time.Time
	for _, is := range p.Issues {
		switch is.Status {
		case StatusToBeDispensed, StatusWithDispenser, StatusWithDispenserActive, StatusRepeatFuture, StatusFuture:
			if !is.Expires.IsZero() && (expires.IsZero() || is.Expires.Before(expires)) {
				expires = is.Expires
			}
		}
	}
	if !expires.IsZero() {
		out = append(out, date("expires", expires))
	}
	return out
}

var prescriptionParams = []search.Param{
	{Name: "shortform", Type: search.Token, Doc: "short-form prescription id"},
	{Name: "patient", Type: search.Token, Doc: "NHS number"},
	{Name: "prescriber", Type: search.Token, Doc: "SDS role profile id of the prescriber"},
	{Name: "prescriber-org", Type: search.Token, Doc: "ODS code of the prescribing organisation"},
	{Name: "nominated", Type: search.Token, Doc: "ODS code of the nominated pharmacy, while the current issue waits for it"},
	{Name: "available", Type: search.Date, Doc: "earliest release of the issue waiting for the nominated pharmacy"},
	{Name: "dispenser", Type: search.Token, Doc: "ODS code of every pharmacy that has held it"},
	{Name: "status", Type: search.Token, Doc: "status of the current issue"},
	{Name: "expires", Type: search.Date, Doc: "the earliest expiry among issues that can still expire"},
	{Name: "authored", Type: search.Date, Doc: "when it was written"},
}

// TypeDefs are the internal types of EPS with their index rules (for the
// engine, and so for `spine reindex`).
func TypeDefs() []engine.TypeDef {
	return []engine.TypeDef{{
		Name: prescriptionType, Params: prescriptionParams,
		Index: func(res fhir.Resource, _ []search.Entry) []search.Entry {
			var p prescription
			if err := json.Unmarshal(fhir.Marshal(res), &p); err != nil {
				return nil
			}
			return p.index()
		},
		Doc: "EPS prescriptions (internal)",
	}}
}

var errNoPrescription = errors.New("no such prescription")

// load reads a prescription by long-form id.
func (s *Service) load(ctx context.Context, id string) (*prescription, error) {
	rec, err := s.store.Read(ctx, prescriptionType, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.Deleted) {
		return nil, errNoPrescription
	}
	if err != nil {
		return nil, err
	}
	return decodePrescription(rec)
}

func decodePrescription(rec store.Record) (*prescription, error) {
	var p prescription
	if err := json.Unmarshal(rec.Body, &p); err != nil {
		return nil, fmt.Errorf("stored prescription %s: %w", rec.ID, err)
	}
	p.version = rec.Version
	return &p, nil
}

// shortFormsKept bounds the short-form ids kept in memory (two
// generations of up to this many).
const shortFormsKept = 1 << 15

// shortForms keeps, in memory, which long-form id recent short-form ids
// stand for. The pairing never changes once it is stored (short-form ids
// are unique and never reused), so what is kept stays true, also when
// other processes share the store; what is not kept is read. Each step
// of a prescription's life after the order names it by its short form.
// An order applied here puts its own pairing (once it is stored), so the
// release that follows reads none.
type shortForms struct {
	mu        sync.Mutex
	cur, prev map[string]string
}

func (c *shortForms) get(short string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	long, ok := c.cur[short]
	if !ok {
		long, ok = c.prev[short]
	}
	return long, ok
}

func (c *shortForms) put(short, long string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= shortFormsKept || c.cur == nil {
		c.prev, c.cur = c.cur, make(map[string]string, shortFormsKept)
	}
	c.cur[short] = long
}

// loadShort reads a prescription by short-form id.
func (s *Service) loadShort(ctx context.Context, short string) (*prescription, error) {
	if long, ok := s.shorts.get(short); ok {
		return s.load(ctx, long)
	}
	rec, err := s.store.Read(ctx, shortFormType, short)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoPrescription
	}
	if err != nil {
		return nil, err
	}
	var m struct {
		Prescription string `json:"prescription"`
	}
	if err := json.Unmarshal(rec.Body, &m); err != nil {
		return nil, err
	}
	s.shorts.put(short, m.Prescription)
	return s.load(ctx, m.Prescription)
}

// change returns the store change that writes p (a create when version is 0).
func (p *prescription) change() store.Change {
	c := store.Change{Op: store.Update, Type: prescriptionType, ID: p.ID, IfMatch: p.version, Index: p.index()}
	if p.version == 0 {
		c.Op, c.IfMatch = store.Create, 0
	}
	// Serialised now, with marks for the version and time: the store's
	// writer only splices them in. p must not change after this.
	p.ResourceType = prescriptionType
	p.Meta = &recordMeta{VersionID: fhir.VersionMark, LastUpdated: fhir.UpdatedMark}
	body, err := json.Marshal(p)
	var tpl *fhir.MetaTemplate
	if err == nil {
		tpl, err = fhir.NewMetaTemplate(body)
	}
	c.Render = func(v int64, at time.Time) ([]byte, error) {
		if err != nil {
			return nil, err
		}
		p.Meta = &recordMeta{VersionID: strconv.FormatInt(v, 10), LastUpdated: at.UTC().Format(fhir.InstantFormat)}
		return tpl.Fill(v, at), nil
	}
	return c
}

// orderChange creates the record of a new prescription's signed order.
func orderChange(id string, raw []byte) store.Change {
	return store.Change{Op: store.Create, Type: orderType, ID: id, Unversioned: true,
		Render: func(int64, time.Time) ([]byte, error) { return raw, nil }}
}

// ordersOf returns the signed order Bundles of ps, as they were received,
// in ps's order: in one store read (they are write-once, at version 1),
// but for prescriptions stored before orders were kept apart, which hold
// theirs.
func (s *Service) ordersOf(ctx context.Context, ps []*prescription) ([][]byte, error) {
	out := make([][]byte, len(ps))
	var refs []store.Ref
	for i, p := range ps {
		if len(p.Order) > 0 {
			out[i] = p.Order
		} else {
			refs = append(refs, store.Ref{Type: orderType, ID: p.ID, Version: 1})
		}
	}
	if len(refs) == 0 {
		return out, nil
	}
	recs, err := s.store.Fetch(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("the orders of %d prescriptions: %w", len(refs), err)
	}
	byID := make(map[string][]byte, len(recs))
	for _, rec := range recs {
		byID[rec.ID] = rec.Body
	}
	for i, p := range ps {
		if out[i] == nil {
			if out[i] = byID[p.ID]; out[i] == nil {
				return nil, fmt.Errorf("the order of prescription %s: %w", p.ID, store.ErrNotFound)
			}
		}
	}
	return out, nil
}

func shortFormChange(short, long string) store.Change {
	return store.Change{Op: store.Create, Type: shortFormType, ID: short, Unversioned: true,
		Render: func(int64, time.Time) ([]byte, error) {
			return json.Marshal(map[string]string{"resourceType": shortFormType, "id": short, "prescription": long})
		}}
}
