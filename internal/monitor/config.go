package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("90s", "1h").
type Duration time.Duration

// UnmarshalJSON accepts "1h30m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration: %s is neither a string nor a number of seconds", b)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the monitor's configuration. Every zero value means "the
// default" (see DefaultConfig), so an empty JSON object is a working
// configuration with every rule on.
type Config struct {
	// QueueSize bounds the records waiting for evaluation; Observe drops
	// (and counts) records beyond it. Default 65536.
	QueueSize int `json:"queue_size,omitempty"`
	// Timezone of working hours. Default Europe/London.
	Timezone string `json:"timezone,omitempty"`
	// Dedupe: a finding of the same rule and key as an alert that is not
	// closed and was last active less than Dedupe ago (record time) is
	// added to that alert instead of opening a new one. Default 1h.
	Dedupe Duration `json:"dedupe,omitempty"`
	// MaxRecords caps the audit indexes kept on one alert (its Count goes
	// on). Default 100.
	MaxRecords int `json:"max_records,omitempty"`
	// MaxPatients caps the patients of one record that rules look at
	// (lookups are made for each). Default 200.
	MaxPatients int `json:"max_patients,omitempty"`
	// Outcomes allowed when closing an alert. Default true-positive,
	// false-positive, benign, duplicate.
	Outcomes []string `json:"outcomes,omitempty"`

	Rules    RulesConfig     `json:"rules"`
	Webhooks []WebhookConfig `json:"webhooks,omitempty"`
	Delivery DeliveryConfig  `json:"delivery"`
}

// RulesConfig configures each detection rule.
type RulesConfig struct {
	BreakGlass           Switch             `json:"break_glass"`
	RelationshipOverride Switch             `json:"relationship_override"`
	Flagged              FlaggedConfig      `json:"flagged"`
	SameNameAddress      SameNameConfig     `json:"same_name_address"`
	Volume               VolumeConfig       `json:"volume"`
	OutOfHours           OutOfHoursConfig   `json:"out_of_hours"`
	AuthFailures         AuthFailuresConfig `json:"auth_failures"`
}

// Switch turns a rule on or off; absent means on.
type Switch struct {
	Enabled *bool `json:"enabled,omitempty"`
}

// On reports whether the rule is enabled (default true).
func (s Switch) On() bool { return s.Enabled == nil || *s.Enabled }

// Bool returns a pointer to b, for Switch.Enabled.
func Bool(b bool) *bool { return &b }

// FlaggedPatient is one entry of the flagged list.
type FlaggedPatient struct {
	NHSNumber string `json:"nhs_number"`
	Reason    string `json:"reason"` // vip, staff, restricted, ...
	// AllowedOrgs are organisations whose access does not alert (the
	// patient's own practice, say).
	AllowedOrgs []string `json:"allowed_orgs,omitempty"`
}

// FlaggedConfig configures access to flagged records.
type FlaggedConfig struct {
	Switch
	Patients []FlaggedPatient `json:"patients,omitempty"`
	// IgnoreRestricted stops asking Lookups.Restricted.
	IgnoreRestricted bool `json:"ignore_restricted,omitempty"`
	// AlertRegisteredPractice alerts also on a restricted patient's own
	// registered practice (Person.GP); by default that access is explained.
	AlertRegisteredPractice bool `json:"alert_registered_practice,omitempty"`
	// IgnoreApplications skips application-restricted access; ExemptApps
	// skips some applications (user- or application-restricted), such as
	// a nightly registration sync.
	IgnoreApplications bool     `json:"ignore_applications,omitempty"`
	ExemptApps         []string `json:"exempt_apps,omitempty"`
}

// SameNameConfig configures the "user looks at people sharing their
// surname or address" rule.
type SameNameConfig struct {
	Switch
	// Match lists what counts: "surname"; "address" (the same postcode and
	// first address line, or the same postcode when a line is unknown);
	// "postcode" (any neighbour sharing the postcode: noisy for staff who
	// live near where they work). Default surname and address.
	Match []string `json:"match,omitempty"`
	// IgnoreSurnames are never matched (very common names).
	IgnoreSurnames []string `json:"ignore_surnames,omitempty"`
	// MaxPatients: records concerning more patients (search result lists)
	// are not "looking at a record". Default 5.
	MaxPatients int `json:"max_patients,omitempty"`
}

// VolumeConfig configures the volume rule: an actor's record accesses
// (patients concerned by successful requests) per Window against the EWMA
// of its own previous active windows.
type VolumeConfig struct {
	Switch
	Window Duration `json:"window,omitempty"` // default 1h
	Alpha  float64  `json:"alpha,omitempty"`  // EWMA weight of the newest window, default 0.3
	K      float64  `json:"k,omitempty"`      // fire above K × baseline, default 5
	// Min is the floor of the threshold for users and applications.
	MinUser int `json:"min_user,omitempty"` // default 200
	MinApp  int `json:"min_app,omitempty"`  // default 5000
	// Warmup active windows before the baseline is trusted; until then the
	// Cold thresholds apply. Default 3.
	Warmup   int `json:"warmup,omitempty"`
	ColdUser int `json:"cold_user,omitempty"` // default 1000
	ColdApp  int `json:"cold_app,omitempty"`  // default 50000
}

// OutOfHoursConfig configures the out-of-hours wide search / bulk read rule.
type OutOfHoursConfig struct {
	Switch
	Start       string   `json:"start,omitempty"`        // working hours start, default 08:00
	End         string   `json:"end,omitempty"`          // end, default 18:30
	WorkingDays []string `json:"working_days,omitempty"` // default Mon..Fri
	Holidays    []string `json:"holidays,omitempty"`     // YYYY-MM-DD, out of hours all day
	// MinPatients: one request concerning this many patients is a wide
	// search. Default 20.
	MinPatients int `json:"min_patients,omitempty"`
	// WindowPatients within Window by one actor is a bulk read. Defaults
	// 50 in 30m.
	WindowPatients int      `json:"window_patients,omitempty"`
	Window         Duration `json:"window,omitempty"`
	// BulkActions always count as bulk (Record.Action). Default export.
	BulkActions []string `json:"bulk_actions,omitempty"`
	// Applications includes application-restricted traffic (batch jobs
	// run at night), except ExemptApps.
	Applications bool     `json:"applications,omitempty"`
	ExemptApps   []string `json:"exempt_apps,omitempty"`
}

// AuthFailuresConfig configures the authentication-attack rule: Threshold
// failures (Statuses, or Action "authenticate" with a 4xx) within Window
// from one client address or one application.
type AuthFailuresConfig struct {
	Switch
	Window    Duration `json:"window,omitempty"`    // default 5m
	Threshold int      `json:"threshold,omitempty"` // default 20
	Statuses  []int    `json:"statuses,omitempty"`  // default 401, 403
	// IgnoreApps stops counting per application (only per address).
	IgnoreApps bool `json:"ignore_apps,omitempty"`
}

// WebhookConfig is one delivery endpoint. Each delivery is a POST of the
// alert's JSON with the header X-Spine-Signature: sha256=<hex HMAC-SHA256
// of the body with Secret>.
type WebhookConfig struct {
	Name      string   `json:"name"`
	URL       string   `json:"url"`
	Secret    string   `json:"secret,omitempty"`
	SecretEnv string   `json:"secret_env,omitempty"` // read the secret from this environment variable
	Rules     []string `json:"rules,omitempty"`      // only these rules (default all)
}

// DeliveryConfig bounds webhook retries.
type DeliveryConfig struct {
	MaxAttempts int      `json:"max_attempts,omitempty"` // default 8
	Backoff     Duration `json:"backoff,omitempty"`      // first retry delay, doubled each time; default 2s
	MaxBackoff  Duration `json:"max_backoff,omitempty"`  // default 10m
	Timeout     Duration `json:"timeout,omitempty"`      // per attempt, default 10s
	Workers     int      `json:"workers,omitempty"`      // concurrent deliveries, default 4
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

// ParseConfig reads a JSON configuration (unknown fields are refused) and
// fills in the defaults.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("monitor config: %w", err)
	}
	c = c.withDefaults()
	return c, c.validate()
}

// LoadConfig reads a JSON configuration file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(b)
}

func def[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func (c Config) withDefaults() Config {
	def(&c.QueueSize, 65536)
	def(&c.Timezone, "Europe/London")
	def(&c.Dedupe, Duration(time.Hour))
	def(&c.MaxRecords, 100)
	def(&c.MaxPatients, 200)
	if len(c.Outcomes) == 0 {
		c.Outcomes = []string{"true-positive", "false-positive", "benign", "duplicate"}
	}
	s := &c.Rules.SameNameAddress
	if len(s.Match) == 0 {
		s.Match = []string{"surname", "address"}
	}
	def(&s.MaxPatients, 5)
	v := &c.Rules.Volume
	def(&v.Window, Duration(time.Hour))
	def(&v.Alpha, 0.3)
	def(&v.K, 5)
	def(&v.MinUser, 200)
	def(&v.MinApp, 5000)
	def(&v.Warmup, 3)
	def(&v.ColdUser, 1000)
	def(&v.ColdApp, 50000)
	o := &c.Rules.OutOfHours
	def(&o.Start, "08:00")
	def(&o.End, "18:30")
	if len(o.WorkingDays) == 0 {
		o.WorkingDays = []string{"Mon", "Tue", "Wed", "Thu", "Fri"}
	}
	def(&o.MinPatients, 20)
	def(&o.WindowPatients, 50)
	def(&o.Window, Duration(30*time.Minute))
	if len(o.BulkActions) == 0 {
		o.BulkActions = []string{"export"}
	}
	a := &c.Rules.AuthFailures
	def(&a.Window, Duration(5*time.Minute))
	def(&a.Threshold, 20)
	if len(a.Statuses) == 0 {
		a.Statuses = []int{401, 403}
	}
	d := &c.Delivery
	def(&d.MaxAttempts, 8)
	def(&d.Backoff, Duration(2*time.Second))
	def(&d.MaxBackoff, Duration(10*time.Minute))
	def(&d.Timeout, Duration(10*time.Second))
	def(&d.Workers, 4)
	return c
}

func (c Config) validate() error {
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		return fmt.Errorf("monitor config: timezone %q: %w", c.Timezone, err)
	}
	for _, m := range c.Rules.SameNameAddress.Match {
		if m != "surname" && m != "address" && m != "postcode" {
			return fmt.Errorf("monitor config: same_name_address.match %q: want surname, address or postcode", m)
		}
	}
	o := c.Rules.OutOfHours
	if _, err := clock(o.Start); err != nil {
		return fmt.Errorf("monitor config: out_of_hours.start: %w", err)
	}
	if _, err := clock(o.End); err != nil {
		return fmt.Errorf("monitor config: out_of_hours.end: %w", err)
	}
	for _, d := range o.WorkingDays {
		if _, ok := weekdays[strings.ToLower(d)]; !ok {
			return fmt.Errorf("monitor config: out_of_hours.working_days: %q is not a day (Mon..Sun)", d)
		}
	}
	for _, h := range o.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			return fmt.Errorf("monitor config: out_of_hours.holidays: %q: want YYYY-MM-DD", h)
		}
	}
	v := c.Rules.Volume
	if v.Alpha <= 0 || v.Alpha > 1 || v.K <= 0 || v.Window <= 0 {
		return fmt.Errorf("monitor config: volume: alpha must be in (0,1], k and window positive")
	}
	if c.Rules.AuthFailures.Window <= 0 || c.Rules.AuthFailures.Threshold < 1 {
		return fmt.Errorf("monitor config: auth_failures: window and threshold must be positive")
	}
	seen := map[string]bool{}
	for _, p := range c.Rules.Flagged.Patients {
		if p.NHSNumber == "" {
			return fmt.Errorf("monitor config: flagged patient without nhs_number")
		}
		if seen[p.NHSNumber] {
			return fmt.Errorf("monitor config: flagged patient %s listed twice", p.NHSNumber)
		}
		seen[p.NHSNumber] = true
	}
	names := map[string]bool{}
	for _, w := range c.Webhooks {
		if w.Name == "" || w.URL == "" {
			return fmt.Errorf("monitor config: every webhook needs a name and a url")
		}
		if names[w.Name] {
			return fmt.Errorf("monitor config: webhook %q listed twice", w.Name)
		}
		names[w.Name] = true
		if !strings.HasPrefix(w.URL, "https://") && !strings.HasPrefix(w.URL, "http://") {
			return fmt.Errorf("monitor config: webhook %q: url must be http(s)", w.Name)
		}
		if w.SecretEnv != "" && os.Getenv(w.SecretEnv) == "" {
			return fmt.Errorf("monitor config: webhook %q: environment variable %s is empty", w.Name, w.SecretEnv)
		}
	}
	if c.Delivery.MaxAttempts < 1 {
		return fmt.Errorf("monitor config: delivery.max_attempts must be at least 1")
	}
	return nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// clock parses "HH:MM" into minutes after midnight.
func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * 60, nil
		}
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}
