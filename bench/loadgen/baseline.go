package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// BaselineSize is the length of the bare handler's body.
const BaselineSize = 160

// BaselineBody is the bare handler's response: a fixed 160-byte FHIR JSON
// Organization, about the size of a small directory entry.
var BaselineBody = func() []byte {
	head := `{"resourceType":"Organization","id":"baseline","active":true,"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"X0000"}],"name":"`
	tail := `"}`
	pad := BaselineSize - len(head) - len(tail)
	return []byte(head + strings.Repeat("B", pad) + tail)
}()

// BaselineHandler answers every request with BaselineBody as
// application/fhir+json: the cheapest possible "FHIR read", to compare the
// spine against in the same run with the same client.
func BaselineHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write(BaselineBody)
	})
}

// ServeBaseline runs the bare handler on addr (e.g. 127.0.0.1:0), prints
// "listening on http://ADDR" like the spine, and serves until SIGTERM or
// SIGINT. It is what the harness's baseline child process runs.
func ServeBaseline(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: BaselineHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Fprintf(os.Stdout, "listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// Begin is how each benchmark program starts once its flags are parsed:
// in the child role (baselineAddr set) it serves the bare baseline and
// exits; without a spine binary it prints the usage and exits; otherwise it
// returns a context cancelled by SIGINT or SIGTERM.
func Begin(name, spine, baselineAddr string) (context.Context, context.CancelFunc) {
	if baselineAddr != "" {
		if err := ServeBaseline(baselineAddr); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spine == "" {
		fmt.Fprintf(os.Stderr, "%s: --spine PATH is required\n", name)
		flag.Usage()
		os.Exit(2)
	}
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}
