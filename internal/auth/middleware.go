package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/fhir"
)

// Authorizer decides whether a principal may perform an action of a
// service (package policy implements it). It returns a *fhir.Error (403)
// or nil.
type Authorizer interface {
	Allow(p *Principal, service, action string) error
}

// Actions the generic FHIR REST classification produces.
const (
	ActionRead   = "read"
	ActionSearch = "search"
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
	// ActionInHandler marks an operation whose action depends on its body
	// (EPS $process-message): the middleware authenticates and rate-limits,
	// and the handler must call Check with the real action.
	ActionInHandler = "-"
)

// ServiceRoutes names the service (as the policy knows it) served under a
// base URL and its named operations.
type ServiceRoutes struct {
	Service string // directory, pds, eps, audit
	Base    string // e.g. /directory/FHIR/R4
	// Operations maps "METHOD /path" below Base to an action; a segment
	// "*" matches any one segment. They are tried before the generic REST
	// classification. Any other path with a $operation is refused.
	Operations map[string]string
}

// RouteRules say which routes are public and how requests map to
// (service, action) pairs.
type RouteRules struct {
	Public     []string // exact paths that need no token ({Base}/metadata is always public)
	Services   []ServiceRoutes
	Authorizer Authorizer // nil: authentication only
	Limiter    Limiter    // nil: no rate limits
}

// PublicPaths are the routes OpenSpine serves without a token.
// The audit log's signed checkpoints are public: outside parties keep them
// to prove later that the log was not rewritten (they reveal no record).
var PublicPaths = []string{"/_ping", "/_status", "/metrics", "/oauth2/token", "/.well-known/jwks.json", "/audit/checkpoint", "/audit/checkpoints"}

// DefaultRules returns the rules of OpenSpine's services.
func DefaultRules(authz Authorizer, lim Limiter) RouteRules {
	return RouteRules{
		Public:     PublicPaths,
		Authorizer: authz,
		Limiter:    lim,
		Services: []ServiceRoutes{
			{Service: "directory", Base: "/directory/FHIR/R4"},
			{Service: "pds", Base: "/personal-demographics/FHIR/R4", Operations: map[string]string{
				"GET /Patient/*/RelatedPerson": "read", // a patient's related people: part of their record
			}},
			{Service: "eps", Base: "/electronic-prescriptions/FHIR/R4", Operations: map[string]string{
				"POST /$prepare":          "prescribe",
				"POST /$verify-signature": "read",
				"POST /$process-message":  ActionInHandler, // order → prescribe, order-update → cancel, dispense-notification → dispense
				"POST /Task/$release":     "release",
				"POST /Task":              "dispense", // return and withdraw
				"POST /Claim":             "claim",
			}},
			{Service: "audit", Base: "/audit/FHIR/R4"},
			// security monitoring: alerts for privacy officers and the security operations team
			{Service: "audit", Base: "/monitor", Operations: map[string]string{
				"POST /alerts/*/acknowledge": "read",
				"POST /alerts/*/close":       "read",
			}},
			{Service: "audit", Base: "/audit", Operations: map[string]string{
				"POST /checkpoint": "read", // sign a checkpoint now (a privacy officer or auditor)
			}},
		},
	}
}

// Classify returns the service and actions of a request ("" service: no
// known service; nil actions: not permitted), and whether it is public.
// path is the escaped path (URL.EscapedPath): like http.ServeMux, it is
// split at "/" first and each segment unescaped, so that %2F neither hides
// nor invents a segment and an escaped base is still recognised.
func (rr *RouteRules) Classify(method, path string) (service string, actions []string, public bool) {
	return rr.compile().classify(method, path)
}

// compiledRules are RouteRules split into segments once.
type compiledRules struct {
	public   [][]string
	services []compiledService
}

type compiledService struct {
	name string
	base []string
	ops  []compiledOp
}

type compiledOp struct {
	method  string
	actions []string
	segs    []string
}

func (rr *RouteRules) compile() *compiledRules {
	c := &compiledRules{}
	for _, p := range rr.Public {
		ps, _ := pathSegments(p)
		c.public = append(c.public, ps)
	}
	for _, s := range rr.Services {
		cs := compiledService{name: s.Service}
		cs.base, _ = pathSegments(s.Base)
		for pat, act := range s.Operations {
			m, p, _ := strings.Cut(pat, " ")
			ps, _ := pathSegments(p)
			cs.ops = append(cs.ops, compiledOp{method: m, actions: []string{act}, segs: ps})
		}
		c.services = append(c.services, cs)
	}
	return c
}

func (c *compiledRules) classify(method, path string) (service string, actions []string, public bool) {
	segs, ok := pathSegments(path)
	if !ok {
		return "", nil, false
	}
	for _, ps := range c.public {
		if slices.Equal(ps, segs) {
			return "", nil, true
		}
	}
	if method == http.MethodHead {
		method = http.MethodGet
	}
	for i := range c.services {
		s := &c.services[i]
		if len(segs) < len(s.base) || !slices.Equal(segs[:len(s.base)], s.base) {
			continue
		}
		rest := segs[len(s.base):]
		if method == http.MethodGet && len(rest) == 1 && rest[0] == "metadata" {
			return s.name, nil, true
		}
		return s.name, classifyREST(s.ops, method, rest), false
	}
	return "", nil, false
}

// pathSegments splits an escaped path into unescaped segments, without a
// trailing empty one.
func pathSegments(path string) ([]string, bool) {
	t := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	if t == "" {
		return nil, true
	}
	segs := strings.Split(t, "/")
	for i, s := range segs {
		if strings.IndexByte(s, '%') >= 0 {
			u, err := url.PathUnescape(s)
			if err != nil {
				return nil, false
			}
			segs[i] = u
		}
	}
	return segs, true
}

// Shared results of classifyREST (never modified).
var (
	actSearch = []string{ActionSearch}
	actRead   = []string{ActionRead}
	actCreate = []string{ActionCreate}
	actUpdate = []string{ActionUpdate}
	actDelete = []string{ActionDelete}
	actBundle = []string{ActionCreate, ActionUpdate, ActionDelete}
)

func classifyREST(ops []compiledOp, method string, segs []string) []string {
	for _, op := range ops {
		if op.method == method && segmentsMatch(op.segs, segs) {
			return op.actions
		}
	}
	for _, s := range segs {
		if strings.HasPrefix(s, "$") {
			return nil
		}
	}
	get := method == http.MethodGet
	switch len(segs) {
	case 0:
		if get {
			return actSearch // next pages of a search
		}
		if method == http.MethodPost { // batch or transaction: may do anything
			return actBundle
		}
	case 1:
		if get {
			return actSearch // search, or _history of everything
		}
		if method == http.MethodPost && segs[0] != "_history" {
			return actCreate
		}
	case 2:
		switch {
		case segs[1] == "_search" && method == http.MethodPost, segs[1] == "_history" && get:
			return actSearch
		case get:
			return actRead
		case method == http.MethodPut || method == http.MethodPatch:
			return actUpdate
		case method == http.MethodDelete:
			return actDelete
		}
	case 3, 4:
		if get && segs[2] == "_history" {
			return actRead
		}
	}
	return nil
}

func segmentsMatch(ps, segs []string) bool {
	if len(ps) != len(segs) {
		return false
	}
	for i := range ps {
		if ps[i] != "*" && ps[i] != segs[i] {
			return false
		}
	}
	return true
}

// Middleware authenticates every non-public request with a bearer token,
// records declared emergency access, applies the application's rate limit
// and asks rules.Authorizer; the Principal is then in the request context
// (From). Failures are OperationOutcomes: 401 (issue login, with
// WWW-Authenticate), 403 (forbidden), 429 (throttled, with Retry-After).
func Middleware(v *Verifier, rules RouteRules, next http.Handler) http.Handler {
	routes := rules.compile()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service, actions, public := routes.classify(r.Method, r.URL.EscapedPath())
		if public {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		p, err := v.Verify(bearer(r))
		if err != nil {
			challenge := `Bearer realm="OpenSpine"`
			msg := "a valid access token is required (Authorization: Bearer)"
			if !errors.Is(err, ErrNoToken) {
				challenge += `, error="invalid_token"`
				msg = "the access token is invalid or expired"
			}
			if errors.Is(err, ErrDevToken) {
				msg = "development tokens are accepted only by a server running with --dev"
			}
			slog.InfoContext(ctx, "auth: token refused", "path", r.URL.Path, "reason", err.Error())
			w.Header().Set("WWW-Authenticate", challenge)
			fhir.WriteError(w, r, fhir.NewError(http.StatusUnauthorized, fhir.CodeAccessDenied, "%s", msg))
			return
		}
		if err := declareEmergency(r, p); err != nil {
			deny(w, r, p, err)
			return
		}
		if urid := r.Header.Get(HeaderSessionURID); urid != "" && p.IsUser() && urid != p.RoleProfileID {
			deny(w, r, p, Forbidden("%s does not match the role of the access token", HeaderSessionURID))
			return
		}
		if rules.Limiter != nil {
			ok, wait, err := rules.Limiter.Take(ctx, p.AppID+"|"+service, float64(p.Rate), p.Burst)
			if err != nil {
				fhir.WriteError(w, r, err)
				return
			}
			if !ok {
				secs := int((wait + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
				fhir.WriteError(w, r, fhir.NewError(http.StatusTooManyRequests, fhir.CodeTooManyRequests,
					"application %s exceeded its rate limit; retry later", p.AppID))
				return
			}
		}
		p.Service = service
		if service != "" {
			if actions == nil {
				deny(w, r, p, Forbidden("this operation is not available to API consumers"))
				return
			}
			p.Action = strings.Join(actions, ",")
			if rules.Authorizer != nil {
				for _, a := range actions {
					if a == ActionInHandler {
						continue
					}
					if err := rules.Authorizer.Allow(p, service, a); err != nil {
						deny(w, r, p, err)
						return
					}
				}
			}
		}
		p.authz = rules.Authorizer
		r2 := r.WithContext(With(ctx, p))
		next.ServeHTTP(w, r2)
		r.Pattern = r2.Pattern // the mux's route, for the outer middleware's metrics
	})
}

// Check asks the request's Authorizer whether its principal may perform
// action on service, for handlers whose action depends on the request body
// (ActionInHandler). It returns a *fhir.Error (401 or 403) or nil.
func Check(ctx context.Context, service, action string) error {
	p := From(ctx)
	if p == nil {
		return fhir.NewError(http.StatusUnauthorized, fhir.CodeAccessDenied, "a valid access token is required")
	}
	if p.authz != nil {
		if err := p.authz.Allow(p, service, action); err != nil {
			return err
		}
	}
	p.Action = action
	return nil
}

// Forbidden is a 403 ACCESS_DENIED error.
func Forbidden(format string, args ...any) *fhir.Error {
	return fhir.NewError(http.StatusForbidden, fhir.CodeAccessDenied, format, args...)
}

func deny(w http.ResponseWriter, r *http.Request, p *Principal, err error) {
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.Status < 400 || fe.Status >= 500 {
		fe = Forbidden("access denied")
	}
	slog.InfoContext(r.Context(), "auth: request refused", "path", r.URL.Path, "app", p.AppID, "user", p.UserID,
		"role", p.JobRole, "emergency", p.Emergency, "status", fe.Status, "reason", fe.Diagnostics)
	fhir.WriteError(w, r, fe)
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// declareEmergency reads the emergency access headers into p.
func declareEmergency(r *http.Request, p *Principal) error {
	v := r.Header.Get(HeaderEmergency)
	reason := strings.TrimSpace(r.Header.Get(HeaderEmergencyReason))
	switch strings.ToLower(v) {
	case "", "false":
		return nil
	case "true":
	default:
		return fhir.Invalid("%s must be true or false", HeaderEmergency)
	}
	if !p.IsUser() {
		return Forbidden("emergency access can only be declared by a healthcare worker")
	}
	if reason == "" || len(reason) > 500 || strings.ContainsFunc(reason, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return fhir.Invalid("%s needs %s: 1 to 500 printable characters", HeaderEmergency, HeaderEmergencyReason)
	}
	p.Emergency, p.EmergencyReason = true, reason
	return nil
}
