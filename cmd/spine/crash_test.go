package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/auth"
	"github.com/openspine/openspine/internal/store/storetest"
)

// The test binary doubles as the spine binary: the crash test starts it
// as a child with SPINE_TEST_MAIN=1 and kills it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("SPINE_TEST_MAIN") == "1" {
		os.Args = append([]string{"spine"}, strings.Fields(os.Getenv("SPINE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs "spine serve" in a child process and returns its base URL.
func startChild(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SPINE_TEST_MAIN=1", "SPINE_TEST_ARGS="+strings.Join(append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--no-demo", "--log-level", "warn"}, args...), " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on ") {
				line <- strings.TrimPrefix(sc.Text(), "listening on ")
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case u := <-line:
		return cmd, u
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, ""
}

// bearer adds an access token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// devClient is an HTTP client carrying the demo application's dev token
// of the instance in dataDir.
func devClient(t *testing.T, dataDir string) *http.Client {
	t.Helper()
	tok, err := auth.DevToken(dataDir, auth.DevTokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: bearer{tok}}
}

type acked struct {
	id, ods, name string
	version       string
}

// TestCrashDurability: writers load the server; it is killed with SIGKILL
// mid-load; after a restart every write that got a 2xx is there, unchanged,
// and found through its index rows.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			args := []string{"--data", t.TempDir()}
			if backend == "postgres" {
				args = append(args, "--db", storetest.NewPostgresSchema(t))
			}
			cmd, base := startChild(t, args...)
			d := base + "/directory/FHIR/R4"
			client := devClient(t, args[1])
			var mu sync.Mutex
			var acks []acked
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						ods := fmt.Sprintf("K%02d%05d", w, i)
						name := fmt.Sprintf("Crash Org %d-%d", w, i)
						body := fmt.Sprintf(`{"resourceType":"Organization","name":%q,"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":%q}]}`, name, ods)
						res, err := client.Post(d+"/Organization", "application/fhir+json", strings.NewReader(body))
						if err != nil {
							return // the server is gone
						}
						var out map[string]any
						json.NewDecoder(res.Body).Decode(&out)
						res.Body.Close()
						if res.StatusCode != 201 {
							continue
						}
						a := acked{id: out["id"].(string), ods: ods, name: name, version: res.Header.Get("ETag")}
						mu.Lock()
						acks = append(acks, a)
						mu.Unlock()
						if i%3 == 0 { // and an update of it
							upd := fmt.Sprintf(`{"resourceType":"Organization","id":%q,"name":%q,"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":%q}]}`, a.id, name+" v2", ods)
							req, _ := http.NewRequest("PUT", d+"/Organization/"+a.id, strings.NewReader(upd))
							req.Header.Set("Content-Type", "application/fhir+json")
							req.Header.Set("If-Match", `W/"1"`)
							res, err := client.Do(req)
							if err != nil {
								return
							}
							res.Body.Close()
							if res.StatusCode == 200 {
								mu.Lock()
								acks = append(acks, acked{id: a.id, ods: ods, name: name + " v2", version: res.Header.Get("ETag")})
								mu.Unlock()
							}
						}
					}
				}(w)
			}
			time.Sleep(1500 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			close(stop)
			wg.Wait()
			mu.Lock()
			n := len(acks)
			mu.Unlock()
			if n < 50 {
				t.Fatalf("only %d acknowledged writes before the kill; the load did not run", n)
			}
			_, base = startChild(t, args...)
			d = base + "/directory/FHIR/R4"
			latest := map[string]acked{}
			for _, a := range acks {
				v := strings.Trim(strings.TrimPrefix(a.version, "W/"), `"`)
				res, err := client.Get(d + "/Organization/" + a.id + "/_history/" + v)
				if err != nil {
					t.Fatal(err)
				}
				var out map[string]any
				json.NewDecoder(res.Body).Decode(&out)
				res.Body.Close()
				if res.StatusCode != 200 || out["name"] != a.name {
					t.Fatalf("acknowledged write %s version %s lost after SIGKILL: %d %v", a.id, v, res.StatusCode, out["name"])
				}
				if cur, ok := latest[a.id]; !ok || cur.version < a.version {
					latest[a.id] = a
				}
			}
			for id, a := range latest {
				res, err := client.Get(d + "/Organization?identifier=" + a.ods)
				if err != nil {
					t.Fatal(err)
				}
				var out map[string]any
				json.NewDecoder(res.Body).Decode(&out)
				res.Body.Close()
				es, _ := out["entry"].([]any)
				if len(es) != 1 || es[0].(map[string]any)["resource"].(map[string]any)["id"] != id {
					t.Fatalf("index rows of %s (%s) do not match after restart: %v", id, a.ods, out)
				}
			}
			t.Logf("%s: %d acknowledged writes (%d resources) all present after SIGKILL", backend, n, len(latest))
		})
	}
}

// TestCrashAllocation: registrations run while the server is killed with
// SIGKILL; after a restart every acknowledged NHS number is there and new
// registrations never receive an NHS number handed out before the crash.
func TestCrashAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			args := []string{"--data", t.TempDir()}
			if backend == "postgres" {
				args = append(args, "--db", storetest.NewPostgresSchema(t))
			}
			cmd, base := startChild(t, args...)
			client := devClient(t, args[1])
			rids := map[string]string{} // NHS number -> X-Request-ID of its registration
			register := func(base string, w, i int) (string, int, error) {
				body := fmt.Sprintf(`{"name":[{"use":"usual","family":"Crash%c%c","given":["W%dI%d"]}],"gender":"female","birthDate":"%d-%02d-%02d"}`,
					'A'+w%26, 'A'+i%26, w, i, 1950+i%60, 1+i%12, 1+w%28)
				req, _ := http.NewRequest("POST", base+"/personal-demographics/FHIR/R4/Patient", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/fhir+json")
				req.Header.Set("X-Request-ID", fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", w, i))
				res, err := client.Do(req)
				if err != nil {
					return "", 0, err
				}
				defer res.Body.Close()
				var out map[string]any
				json.NewDecoder(res.Body).Decode(&out)
				id, _ := out["id"].(string)
				return id, res.StatusCode, nil
			}
			var mu sync.Mutex
			acked := map[string]bool{}
			stop := make(chan struct{})
			ridOf := func(w, i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", w, i) }
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						id, status, err := register(base, w, i)
						if err != nil {
							return
						}
						if status == 201 {
							mu.Lock()
							if acked[id] {
								t.Errorf("NHS number %s allocated twice", id)
							}
							acked[id] = true
							rids[id] = ridOf(w, i)
							mu.Unlock()
						}
					}
				}(w)
			}
			time.Sleep(1200 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			close(stop)
			wg.Wait()
			if len(acked) < 10 {
				t.Fatalf("only %d registrations acknowledged before the kill", len(acked))
			}
			_, base = startChild(t, args...)
			for id := range acked {
				req, _ := http.NewRequest("GET", base+"/personal-demographics/FHIR/R4/Patient/"+id, nil)
				req.Header.Set("X-Request-ID", "00000000-0000-4000-8000-000000000001")
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Fatalf("acknowledged registration %s lost after SIGKILL: %d", id, res.StatusCode)
				}
				// durable before release: its audit record is there too
				res, err = client.Get(base + "/audit/FHIR/R4/AuditEvent?patient=" + id)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !strings.Contains(string(body), rids[id]) {
					t.Fatalf("registration %s answered before SIGKILL has no audit record: %d %s\n%s", id, res.StatusCode, body, auditState(t, args, id, rids[id]))
				}
			}
			for i := 0; i < 20; i++ {
				id, status, err := register(base, 99, i)
				if err != nil || status != 201 {
					t.Fatalf("registration after restart: %d %v", status, err)
				}
				if acked[id] {
					t.Fatalf("NHS number %s reissued after the crash", id)
				}
			}
			t.Logf("%s: %d registrations acknowledged before SIGKILL, all present with their audit records; no number reissued", backend, len(acked))
		})
	}
}

// auditState describes, for a failure report, what the stored audit trail
// holds of a patient and a request: the records naming the request, the
// index keys of the patient and the indexed-through mark.
func auditState(t *testing.T, args []string, nhs, requestID string) string {
	driver, source := "sqlite3", args[1]+"/audit.db"
	if len(args) > 3 && args[2] == "--db" {
		driver, source = "pgx", args[3]
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	var b strings.Builder
	// dump writes each row of q (two columns) as format says
	dump := func(q, format string) {
		rows, err := db.Query(q)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", q, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var a, c string
			rows.Scan(&a, &c)
			fmt.Fprintf(&b, format, a, c)
		}
	}
	dump("SELECT idx, body FROM audit_log WHERE body LIKE '%"+requestID+"%' OR body LIKE '%"+nhs+"%' ORDER BY idx", "audit_log %s: %s\n")
	dump("SELECT key, idx FROM audit_index WHERE key = 'patient:"+nhs+"'", "audit_index %s -> %s\n")
	var mark, size int64
	db.QueryRow("SELECT value FROM sequences WHERE name = 'audit_indexed'").Scan(&mark)
	db.QueryRow("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log").Scan(&size)
	fmt.Fprintf(&b, "indexed through %d of %d records", mark, size)
	return b.String()
}
