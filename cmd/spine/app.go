package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/openspine/openspine/internal/auth"
)

// appCmd registers and shows API consumer applications.
func appCmd(args []string) error {
	if len(args) == 0 || (args[0] != "register" && args[0] != "show") {
		return errors.New("usage: spine app register --file app.json | spine app show ID  [--data DIR] [--db URL]")
	}
	fs := flag.NewFlagSet("app "+args[0], flag.ExitOnError)
	var sf storageFlags
	sf.register(fs)
	file := fs.String("file", "", "the application's JSON (see docs/security.md)")
	fs.Parse(args[1:])
	ctx := context.Background()
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := auth.StoreRegistry{Store: st}
	if args[0] == "show" {
		if fs.NArg() != 1 {
			return errors.New("usage: spine app show ID")
		}
		a, err := reg.Application(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		out, _ := json.MarshalIndent(a, "", "  ")
		fmt.Println(string(out))
		return nil
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var a auth.Application
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	if err := reg.Register(ctx, &a); err != nil {
		return fmt.Errorf("application %q: %w", a.ID, err)
	}
	fmt.Printf("registered application %s (%s, %s) for organisation %s\n", a.ID, a.Name, a.Mode, a.OrgODS)
	return nil
}
