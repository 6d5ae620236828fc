package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openspine/openspine/internal/eps"
	"github.com/openspine/openspine/internal/store/storetest"
	"github.com/openspine/openspine/internal/trace"
)

// spineCmd runs the spine command line (this test binary as spine) and
// returns what it printed.
func spineCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SPINE_TEST_MAIN=1", "SPINE_TEST_ARGS="+strings.Join(args, " "))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spine %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestEPSTour runs the prescription tour of the README and of
// docs/api/eps.md with its example messages (docs/examples/eps), through
// the command line and HTTP as a supplier would: a development signing key
// for Dr Carter, $prepare, spine sign, the order, release by its id,
// dispense, claim; the prescription ends claimed. The examples carry NOW
// where the time of the run goes.
func TestEPSTour(t *testing.T) {
	if testing.Short() {
		t.Skip("tour test skipped in -short mode")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			flags := []string{"--data", dir}
			if backend == "postgres" {
				flags = append(flags, "--db", storetest.NewPostgresSchema(t))
			}
			_, base := startChild(t, flags...)
			spineCmd(t, append([]string{"seed", "--patients", "6000", "--seed", "1"}, flags...)...)
			spineCmd(t, append([]string{"prescriber-key", "--role", "555021936108"}, flags...)...)
			token := func(args ...string) string {
				out := strings.TrimSpace(spineCmd(t, append(append([]string{"token"}, flags[:2]...), args...)...)) // --data only
				return out[strings.LastIndex(out, "\n")+1:]
			}
			prescriber := token("--user", "555021935107")
			pharmacist := token("--user", "555021935110", "--role", "R1290", "--org", "FA565", "--role-profile", "555021936111", "--activities", "B0570")
			now := time.Now().UTC().Format("2006-01-02T15:04:05+00:00")
			example := func(name string) []byte {
				b, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "eps", name))
				if err != nil {
					t.Fatal(err)
				}
				return bytes.ReplaceAll(b, []byte(`"NOW"`), []byte(`"`+now+`"`))
			}
			post := func(tok, path string, body []byte) []byte {
				t.Helper()
				req, _ := http.NewRequest("POST", base+eps.Base+path, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/fhir+json")
				req.Header.Set("X-Request-ID", trace.NewUUID())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out)
				}
				return out
			}
			order := filepath.Join(dir, "order.json")
			if err := os.WriteFile(order, example("order.json"), 0o600); err != nil {
				t.Fatal(err)
			}
			prepared := filepath.Join(dir, "prepared.json")
			if err := os.WriteFile(prepared, post(prescriber, "/$prepare", example("order.json")), 0o600); err != nil {
				t.Fatal(err)
			}
			signed := spineCmd(t, append([]string{"sign", "--role", "555021936108", "--bundle", order, "--prepared", prepared}, flags[:2]...)...)
			post(prescriber, "/$process-message", []byte(signed))
			var rel struct {
				Parameter []struct {
					Name     string `json:"name"`
					Resource struct {
						Total int `json:"total"`
					} `json:"resource"`
				} `json:"parameter"`
			}
			if err := json.Unmarshal(post(pharmacist, "/Task/$release", example("release.json")), &rel); err != nil {
				t.Fatal(err)
			}
			if len(rel.Parameter) == 0 || rel.Parameter[0].Name != "passedPrescriptions" || rel.Parameter[0].Resource.Total != 1 {
				t.Fatalf("release: %+v", rel)
			}
			post(pharmacist, "/$process-message", example("dispense.json"))
			post(pharmacist, "/Claim", example("claim.json"))
			// the prescription is claimed
			var ord map[string]any
			if err := json.Unmarshal(example("order.json"), &ord); err != nil {
				t.Fatal(err)
			}
			short := ""
			for _, e := range ord["entry"].([]any) {
				res := e.(map[string]any)["resource"].(map[string]any)
				if res["resourceType"] == "MedicationRequest" {
					short = res["groupIdentifier"].(map[string]any)["value"].(string)
				}
			}
			req, _ := http.NewRequest("GET", base+eps.Base+"/Task/"+short, nil)
			req.Header.Set("Authorization", "Bearer "+pharmacist)
			req.Header.Set("X-Request-ID", trace.NewUUID())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			track, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(track), `"code":"`+eps.StatusClaimed+`"`) {
				t.Fatalf("tracking: %d %s", resp.StatusCode, track)
			}
		})
	}
}
