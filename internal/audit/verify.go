package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Verify recomputes the log from the stored records and checks it against
// the stored checkpoints; VerifyCheckpoints also against checkpoints kept
// elsewhere (an export: an outside party's copy).
//
// What it checks, reading every record once, in index order:
//
//   - every index below the stored size is present (a deleted row is
//     named exactly);
//   - every body hashes (RFC 6962 leaf) to its stored leaf hash (a body
//     changed without its hash: named exactly);
//   - every body is a Record whose "index" is its position (records
//     deleted, inserted or moved and renumbered without rewriting their
//     bodies: named exactly; two bodies claiming the same index name the
//     first of them, though which of the two is genuine cannot be told
//     from the records alone);
//   - every checkpoint's signature, and that the tree recomputed from the
//     bodies has, at each checkpoint's size, the root it signed. This
//     catches any rewrite, even one that also fixes the leaf hashes and
//     the index fields, but only locates it between checkpoints: the bad
//     record is in [m, n) where m is the size of the last checkpoint that
//     matches and n of the first that does not. Sign checkpoints more
//     often for finer location. Records after the last checkpoint are only
//     checked for internal consistency (Report.Unsealed): a record
//     appended there, body, hash and index all correct, is
//     indistinguishable from a genuine one (the running Log notices rows
//     it did not write, see Log.Tampered).
//
// Consistency between consecutive checkpoints follows: each one whose
// root is reproduced commits to a prefix of the same recomputed tree. Two
// checkpoints that cannot both be true (same size and different roots, or
// a later one reproduced after an earlier one is not: a forked history)
// are reported as such.
func Verify(ctx context.Context, st Storage, pub ed25519.PublicKey) (*Report, error) {
	return VerifyCheckpoints(ctx, st, pub, nil)
}

// Report is the outcome of Verify.
type Report struct {
	Size        int64     // records stored
	Checkpoints int       // checkpoints that verified
	Sealed      int64     // records [0, Sealed) match the largest verified checkpoint
	Unsealed    int64     // records after the largest checkpoint
	Problems    []Problem // in the order found; at most maxProblems
	FirstBad    *Problem  // the first bad record found, nil if none
}

// Problem is one finding. Index is the record concerned (-1 for a problem
// with a checkpoint); when the record is only located to a range, End is
// the end of that range, otherwise End is Index+1.
type Problem struct {
	Index  int64  `json:"index"`
	End    int64  `json:"end"`
	Reason string `json:"reason"`
}

const maxProblems = 100

// OK tells whether the log verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) String() string {
	var b strings.Builder
	if r.OK() {
		fmt.Fprintf(&b, "OK: %d records; %d checkpoints verified", r.Size, r.Checkpoints)
		if r.Checkpoints > 0 {
			fmt.Fprintf(&b, "; records [0, %d) match the latest checkpoint", r.Sealed)
		}
		if r.Unsealed > 0 {
			fmt.Fprintf(&b, "; %d records are not yet covered by a checkpoint", r.Unsealed)
		}
		return b.String() + "\n"
	}
	if r.FirstBad != nil {
		if r.FirstBad.End > r.FirstBad.Index+1 {
			fmt.Fprintf(&b, "FAILED: the first bad record is in [%d, %d): %s\n", r.FirstBad.Index, r.FirstBad.End, r.FirstBad.Reason)
		} else {
			fmt.Fprintf(&b, "FAILED: the first bad record is %d: %s\n", r.FirstBad.Index, r.FirstBad.Reason)
		}
	} else {
		b.WriteString("FAILED\n")
	}
	for _, p := range r.Problems {
		switch {
		case p.Index < 0:
			fmt.Fprintf(&b, "  %s\n", p.Reason)
		case p.End > p.Index+1:
			fmt.Fprintf(&b, "  records [%d, %d): %s\n", p.Index, p.End, p.Reason)
		default:
			fmt.Fprintf(&b, "  record %d: %s\n", p.Index, p.Reason)
		}
	}
	fmt.Fprintf(&b, "%d records; %d checkpoints verified", r.Size, r.Checkpoints)
	if r.Sealed > 0 {
		fmt.Fprintf(&b, "; records [0, %d) match a checkpoint", r.Sealed)
	}
	return b.String() + "\n"
}

func (r *Report) add(index, end int64, format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{Index: index, End: end, Reason: fmt.Sprintf(format, args...)})
	}
}

// firstBad picks the first bad record: the lowest exactly located one,
// unless a checkpoint mismatch places a bad record before it (in a range
// that does not contain it).
func (r *Report) firstBad() *Problem {
	var exact, ranged *Problem
	for i := range r.Problems {
		p := &r.Problems[i]
		switch {
		case p.Index < 0:
		case p.End == p.Index+1:
			if exact == nil || p.Index < exact.Index {
				exact = p
			}
		default:
			if ranged == nil || p.Index < ranged.Index {
				ranged = p
			}
		}
	}
	if exact != nil && (ranged == nil || exact.Index < ranged.End) {
		return exact
	}
	return ranged
}

// VerifyCheckpoints is Verify with extra checkpoints (signed notes, as
// exported) checked besides the stored ones.
func VerifyCheckpoints(ctx context.Context, st Storage, pub ed25519.PublicKey, extra [][]byte) (*Report, error) {
	rep := &Report{}
	stored, err := st.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	var cps []Checkpoint
	seen := map[string]bool{}
	for i, text := range append(stored, extra...) {
		if seen[string(text)] {
			continue
		}
		seen[string(text)] = true
		which := fmt.Sprintf("stored checkpoint #%d", i+1)
		if i >= len(stored) {
			which = fmt.Sprintf("external checkpoint #%d", i-len(stored)+1)
		}
		cp, err := ParseCheckpoint(text, pub)
		if err != nil {
			rep.add(-1, -1, "%s: %v", which, err)
			continue
		}
		cps = append(cps, cp)
	}
	rep.Checkpoints = len(cps)
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return int(min(max(a.Size-b.Size, -1), 1)) })
	for i := 1; i < len(cps); i++ {
		if cps[i].Size == cps[i-1].Size && !bytes.Equal(cps[i].Root, cps[i-1].Root) {
			rep.add(-1, -1, "two checkpoints of size %d (%s and %s) sign different roots: the log showed two histories", cps[i].Size, stamp(cps[i-1]), stamp(cps[i]))
		}
	}

	size, err := st.LogSize(ctx)
	if err != nil {
		return nil, err
	}
	rep.Size = size
	v := verifier{rep: rep, cps: cps, rf: &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}, lastMatch: -1}
	v.tree = v.rf.NewEmptyRange(0)
	v.checkpointsAt() // size 0
	for at := int64(0); at < size; {
		to := min(at+1024, size)
		if err := v.chunk(ctx, st, at, to); err != nil {
			return nil, err
		}
		at = to
	}
	if !v.broken && v.next < len(cps) {
		n := cps[len(cps)-1].Size
		rep.add(size, size+1, "missing: checkpoint %s commits to %d records but %d are stored (records [%d, %d) deleted)", stamp(cps[len(cps)-1]), n, size, size, n)
	}
	if len(cps) > 0 {
		rep.Unsealed = max(0, size-cps[len(cps)-1].Size)
	} else {
		rep.Unsealed = size
	}
	rep.FirstBad = rep.firstBad()
	return rep, nil
}

type verifier struct {
	rep       *Report
	cps       []Checkpoint // sorted by size
	next      int          // the next checkpoint to reach
	rf        *compact.RangeFactory
	tree      *compact.Range // of the bodies' leaf hashes, while no record is missing
	broken    bool           // a record is missing: the tree stops there
	lastMatch int64          // size of the last checkpoint reproduced
	mismatch  bool           // a checkpoint was not reproduced
	prevClaim int64          // the index the previous body claimed
	claimBad  bool           // an index anomaly was reported
}

// chunk checks the records [from, to).
func (v *verifier) chunk(ctx context.Context, st Storage, from, to int64) error {
	bodies, err1 := st.Leaves(ctx, from, to)
	hashes, err2 := st.LeafHashes(ctx, from, to)
	if err1 != nil || err2 != nil || int64(len(bodies)) != to-from || len(hashes) != len(bodies) {
		// a record is missing: read them one at a time to name it
		for i := from; i < to; i++ {
			b, err := st.Leaves(ctx, i, i+1)
			if err != nil {
				return err
			}
			h, err := st.LeafHashes(ctx, i, i+1)
			if err != nil {
				return err
			}
			if len(b) != 1 || len(h) != 1 {
				v.missing(i)
				continue
			}
			v.record(i, b[0], h[0])
		}
		return nil
	}
	for i := range bodies {
		v.record(from+int64(i), bodies[i], hashes[i])
	}
	return nil
}

func (v *verifier) missing(i int64) {
	v.rep.add(i, i+1, "missing: no record is stored at this index (deleted)")
	v.prevClaim = i
	if !v.broken {
		v.broken = true
		if v.next < len(v.cps) {
			v.rep.add(-1, -1, "checkpoints from size %d on cannot be checked: record %d is missing", v.cps[v.next].Size, i)
		}
	}
}

func (v *verifier) record(i int64, body, stored []byte) {
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	if !bytes.Equal(leaf, stored) {
		v.rep.add(i, i+1, "changed: the body does not match its stored leaf hash")
	}
	var rec Record
	if err := json.Unmarshal(body, &rec); err != nil {
		v.rep.add(i, i+1, "unreadable: the body is not an audit record (%v)", err)
		rec.Index = i
	}
	switch c := rec.Index; {
	case c == i || v.claimBad:
	case i > 0 && c == v.prevClaim:
		v.claimBad = true
		v.rep.add(i-1, i, "inserted: the records at %d and %d both say they are record %d (one was inserted or copied; the first is named)", i-1, i, c)
	case c > i:
		v.claimBad = true
		v.rep.add(i, i+1, "moved: the record stored here says it is record %d (records deleted and the rest renumbered, or reordered)", c)
	default:
		v.claimBad = true
		v.rep.add(i, i+1, "moved: the record stored here says it is record %d (records inserted before it, or reordered)", c)
	}
	v.prevClaim = rec.Index
	if v.broken {
		return
	}
	v.tree.Append(leaf, nil)
	v.checkpointsAt()
}

// checkpointsAt compares the tree with the checkpoints of its size.
func (v *verifier) checkpointsAt() {
	size := int64(v.tree.End())
	root := rfc6962.DefaultHasher.EmptyRoot()
	if size > 0 {
		root, _ = v.tree.GetRootHash(nil)
	}
	for ; v.next < len(v.cps) && v.cps[v.next].Size == size; v.next++ {
		cp := v.cps[v.next]
		if bytes.Equal(cp.Root, root) {
			if v.mismatch {
				v.rep.add(-1, -1, "checkpoint %s is reproduced although an earlier one is not: the log showed two histories", stamp(cp))
			}
			v.lastMatch = size
			v.rep.Sealed = size
			continue
		}
		if !v.mismatch {
			v.mismatch = true
			from := max(v.lastMatch, 0)
			v.rep.add(from, max(size, from+1), "rewritten: the records differ from the tree checkpoint %s commits to", stamp(cp))
		}
	}
}

func stamp(cp Checkpoint) string {
	return fmt.Sprintf("(size %d, %s)", cp.Size, cp.Time.Format(time.RFC3339))
}
