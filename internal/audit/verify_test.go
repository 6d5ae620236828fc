package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
)

// tamperLog is a log of 100 records with a checkpoint every `every`
// records.
func tamperLog(t *testing.T, every int) *memStorage {
	t.Helper()
	st := newMemStorage()
	l := newTestLog(t, st)
	for i := 0; i < 100; i++ {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%every == 0 {
			if _, err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return st
}

func verify(t *testing.T, st Storage, extra ...[]byte) *Report {
	t.Helper()
	rep, err := VerifyCheckpoints(context.Background(), st, testSigner(t).PublicKey(), extra)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// rewrite changes record i's body (its action) and, if rehash, its leaf
// hash too; index, if >= 0, is written into the body as its index.
func rewrite(st *memStorage, i int64, rehash bool, index int64) {
	row := st.row(i)
	var r Record
	json.Unmarshal(row.body, &r)
	r.Action = "search"
	if index >= 0 {
		r.Index = index
	}
	body, _ := json.Marshal(&r)
	if rehash {
		row.leaf = rfc6962.DefaultHasher.HashLeaf(body)
	}
	st.setRow(i, memRow{body, row.leaf})
}

func TestVerifyIntact(t *testing.T) {
	st := tamperLog(t, 10)
	rep := verify(t, st)
	if !rep.OK() || rep.Size != 100 || rep.Sealed != 100 || rep.Checkpoints != 10 || rep.Unsealed != 0 {
		t.Fatalf("intact log: %+v\n%s", rep, rep)
	}
	if !strings.HasPrefix(rep.String(), "OK: 100 records; 10 checkpoints verified") {
		t.Fatal(rep)
	}
	if rep := verify(t, newMemStorage()); !rep.OK() {
		t.Fatal(rep)
	}
}

func TestVerifyTampering(t *testing.T) {
	for _, tc := range []struct {
		name      string
		every     int // checkpoint every n records
		alter     func(st *memStorage)
		first     int64 // the first bad record named
		end       int64 // end of its range, when only located to one
		reasonHas string
	}{
		{"body changed", 10, func(st *memStorage) { rewrite(st, 37, false, -1) }, 37, 0, "changed"},
		{"body and leaf hash changed", 10, func(st *memStorage) { rewrite(st, 37, true, -1) }, 30, 40, "rewritten"},
		{"body and leaf hash changed, a checkpoint per record", 1, func(st *memStorage) { rewrite(st, 37, true, -1) }, 37, 0, "rewritten"},
		{"record deleted", 10, func(st *memStorage) { st.deleteRow(42, false) }, 42, 0, "missing"},
		{"record deleted, the rest renumbered", 10, func(st *memStorage) { st.deleteRow(42, true) }, 42, 0, "moved"},
		{"last records deleted", 10, func(st *memStorage) { st.deleteRow(99, false); st.deleteRow(98, false) }, 98, 0, "missing"},
		{"record inserted", 10, func(st *memStorage) {
			body, _ := json.Marshal(&Record{Index: 55, Service: "pds", Action: "read", Status: 200})
			st.insertRow(55, memRow{body, rfc6962.DefaultHasher.HashLeaf(body)})
		}, 55, 0, "inserted"},
		{"records swapped", 10, func(st *memStorage) { st.swapRows(61, 64) }, 61, 0, "moved"},
		{"records swapped, index fields and hashes rewritten", 10, func(st *memStorage) {
			st.swapRows(61, 64)
			rewrite(st, 61, true, 61)
			rewrite(st, 64, true, 64)
		}, 60, 70, "rewritten"},
		{"leaf hash changed only", 10, func(st *memStorage) {
			row := st.row(12)
			row.leaf = bytes.Repeat([]byte{1}, 32)
			st.setRow(12, row)
		}, 12, 0, "changed"},
		{"two records changed", 10, func(st *memStorage) { rewrite(st, 80, false, -1); rewrite(st, 20, false, -1) }, 20, 0, "changed"},
		{"garbage body", 10, func(st *memStorage) { st.setRow(3, memRow{[]byte("{"), rfc6962.DefaultHasher.HashLeaf([]byte("{"))}) }, 3, 0, "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tamperLog(t, tc.every)
			tc.alter(st)
			rep := verify(t, st)
			if rep.OK() || rep.FirstBad == nil {
				t.Fatalf("tampering not detected:\n%s", rep)
			}
			end := tc.end
			if end == 0 {
				end = tc.first + 1
			}
			if f := rep.FirstBad; f.Index != tc.first || f.End != end || !strings.Contains(f.Reason, tc.reasonHas) {
				t.Fatalf("first bad [%d, %d) %q, want [%d, %d) %q\n%s", f.Index, f.End, f.Reason, tc.first, end, tc.reasonHas, rep)
			}
			t.Logf("\n%s", rep)
		})
	}
}

func TestVerifyCheckpoints(t *testing.T) {
	st := tamperLog(t, 25)
	cps, _ := st.Checkpoints(context.Background())

	// checkpoints deleted from the store along with the records they
	// covered: an exported copy still catches it
	st.mu.Lock()
	st.cps = st.cps[:2]
	st.mu.Unlock()
	st.deleteRow(99, false)
	if rep := verify(t, st); !rep.OK() {
		t.Fatalf("without the export the truncation passes as the log's state, yet: %s", rep)
	}
	rep := verify(t, st, cps...)
	if rep.OK() || rep.FirstBad == nil || rep.FirstBad.Index != 99 {
		t.Fatalf("the export does not catch the truncation:\n%s", rep)
	}

	// a forged checkpoint is reported; it does not count
	forged := bytes.Replace(cps[3], []byte("\n100\n"), []byte("\n101\n"), 1)
	st = tamperLog(t, 25)
	rep = verify(t, st, forged)
	if rep.OK() || rep.FirstBad != nil || rep.Checkpoints != 4 || !strings.Contains(rep.String(), "external checkpoint #1: checkpoint: invalid signature") {
		t.Fatalf("forged checkpoint:\n%s", rep)
	}

	// two histories signed by the same key
	other := newMemStorage()
	l := newTestLog(t, other)
	for i := 0; i < 50; i++ {
		r := testRecord(i)
		r.Action = "create"
		l.Append(context.Background(), r)
	}
	fork, _ := l.Checkpoint(context.Background())
	rep = verify(t, st, fork)
	if rep.OK() || !strings.Contains(rep.String(), "two histories") {
		t.Fatalf("fork not reported:\n%s", rep)
	}
}
