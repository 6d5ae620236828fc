package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/directory"
	"github.com/openspine/openspine/internal/policy"
)

// tokenCmd implements `spine token`: a development access token signed
// with the spine's key from the data folder of a --dev instance.
//
//	spine token --data DIR                                  the demo application
//	spine token --data DIR --user ID --role CODE --org ODS  a healthcare worker
//	spine token --data DIR --user ID                        a practitioner of the demo directory
//	spine token --data DIR --patient NHS                    a patient (P9)
//
// The token is the last line of the output.
func tokenCmd(args []string) error {
	fs := flag.NewFlagSet("token", flag.ExitOnError)
	data := fs.String("data", env("SPINE_DATA", "./spine-data"), "data folder of a development instance [SPINE_DATA]")
	app := fs.String("app", auth.DemoAppID, "application id")
	user := fs.String("user", "", "SDS user id: a user-restricted token (with --role and --org)")
	role := fs.String("role", "", "SDS job role code of the user, e.g. R8000 or S8000:G8000:R8000")
	org := fs.String("org", "", "ODS code of the user's organisation")
	profile := fs.String("role-profile", "", "role profile id (URID) of the user (default: the demo directory's, or a made-up one)")
	activities := fs.String("activities", "", "comma-separated CIS2 activity codes (default: those usual for --role)")
	patient := fs.String("patient", "", "NHS number: a patient (NHS login P9) token")
	ttl := fs.Duration("ttl", time.Hour, "lifetime (at most 12h)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: spine token --data DIR [--app ID] [--user ID [--role CODE --org ODS] [--role-profile ID] [--activities B0420,...]] [--patient NHS]")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if !auth.IsDevInstance(*data) {
		return fmt.Errorf("%s is not a development instance: tokens can only be minted for a data folder served with spine serve --dev", *data)
	}
	o := auth.DevTokenOptions{App: *app, User: *user, Role: *role, Org: *org, RoleProfile: *profile, Patient: *patient, TTL: *ttl}
	// A practitioner of the demo directory needs only --user.
	for _, d := range directory.DemoPractitioners {
		if d.SDSUser == o.User && (o.Role == "" || strings.HasSuffix(o.Role, d.JobRole)) && (o.Org == "" || o.Org == d.Org) {
			o.Role, o.Org = d.JobRole, d.Org
			if o.RoleProfile == "" {
				o.RoleProfile = d.RoleProfile
			}
			break
		}
	}
	switch {
	case *activities != "":
		for _, a := range strings.Split(*activities, ",") {
			if a = strings.TrimSpace(a); a != "" {
				o.Activities = append(o.Activities, a)
			}
		}
	case o.User != "":
		o.Activities = policy.Default().TypicalActivities(o.Role)
	}
	tok, err := auth.DevToken(*data, o)
	if err != nil {
		return err
	}
	who := "application " + o.App
	switch {
	case o.User != "":
		who = fmt.Sprintf("user %s, role %s at %s, activities %s", o.User, o.Role, o.Org, strings.Join(o.Activities, " "))
	case o.Patient != "":
		who = "patient " + o.Patient
	}
	fmt.Fprintf(os.Stderr, "development token for %s, valid for %s (accepted only by spine serve --dev)\n", who, o.TTL)
	fmt.Println(tok)
	return nil
}
