package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/openspine/openspine/internal/audit"
)

const auditUsage = `usage:
  spine audit verify [--data DIR] [--db URL] [--checkpoints FILE] [--key VKEY]
      recompute the audit log's Merkle tree from the stored records and check
      it against the signed checkpoints (and those of an export kept elsewhere);
      names the first bad record; exit status 1 if the log does not verify
  spine audit export [--data DIR] [--db URL]
      print the signed checkpoints and the key to verify them (JSON), for an
      outside party to keep`

// auditCmd verifies the audit log or exports its checkpoints.
func auditCmd(args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return errors.New(auditUsage)
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ExitOnError)
	var sf storageFlags
	sf.register(fs)
	external := fs.String("checkpoints", "", "verify: also check against the checkpoints of this export (spine audit export)")
	vkey := fs.String("key", "", "verify: the verifier key (name+hash+base64) to trust instead of the data folder's key")
	fs.Parse(args[1:])
	ctx := context.Background()

	var pub ed25519.PublicKey
	origin := audit.DefaultOrigin
	var err error
	if *vkey != "" {
		if origin, pub, err = audit.ParseVerifierKey(*vkey); err != nil {
			return err
		}
	} else if pub, err = audit.LoadPublicKey(sf.data); err != nil {
		return fmt.Errorf("%w (give the log's verifier key with --key)", err)
	}

	mainStore, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer mainStore.Close()
	st, closeAudit, err := sf.openAudit(ctx, mainStore)
	if err != nil {
		return err
	}
	defer closeAudit()
	as, ok := any(st).(audit.Storage)
	if !ok {
		return fmt.Errorf("the %s store does not keep an audit log (it does not implement audit.Storage)", sf.db)
	}

	if args[0] == "export" {
		e, err := audit.ExportCheckpoints(ctx, as, origin, pub)
		if err != nil {
			return err
		}
		out, _ := json.MarshalIndent(e, "", "  ")
		fmt.Println(string(out))
		return nil
	}

	var extra [][]byte
	if *external != "" {
		data, err := os.ReadFile(*external)
		if err != nil {
			return err
		}
		var e audit.Export
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("%s: %w", *external, err)
		}
		if e.VerifierKey != "" && e.VerifierKey != audit.VerifierKey(origin, pub) {
			fmt.Fprintf(os.Stderr, "warning: %s was exported with key %s; verifying with %s\n", *external, e.VerifierKey, audit.VerifierKey(origin, pub))
		}
		for _, c := range e.Checkpoints {
			extra = append(extra, []byte(c))
		}
	}
	rep, err := audit.VerifyCheckpoints(ctx, as, pub, extra)
	if err != nil {
		return err
	}
	fmt.Print(rep.String())
	if !rep.OK() {
		return errors.New("the audit log does not verify")
	}
	return nil
}
