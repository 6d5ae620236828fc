package audit

import (
	"bytes"
	"context"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// proofSizes cover small trees fully and larger ones around tile edges.
var proofSizes = []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 511, 512, 513, 768, 1000, 1024, 1025, 1100}

func proofLog(t *testing.T) (*Log, [][]byte) {
	st := newMemStorage()
	l := newTestLog(t, st)
	appendN(t, l, 1100, 20)
	return l, storedLeaves(t, st)
}

func TestInclusionProofs(t *testing.T) {
	l, leaves := proofLog(t)
	ctx := context.Background()
	for _, n := range proofSizes {
		root := mth(leaves[:n])
		if got, err := l.RootAt(ctx, n); err != nil || !bytes.Equal(got, root) {
			t.Fatalf("RootAt(%d): %v", n, err)
		}
		for i := int64(0); i < n; i += 1 + n/40 {
			p, err := l.InclusionProof(ctx, i, n)
			if err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, n, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(n), leaves[i], p, root); err != nil {
				t.Fatalf("inclusion %d in %d does not verify: %v", i, n, err)
			}
			// the proof is for that leaf only
			other := leaves[(i+1)%n]
			if n > 1 && proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(n), other, p, root) == nil {
				t.Fatalf("inclusion %d in %d verifies another leaf", i, n)
			}
		}
	}
	if _, err := l.InclusionProof(ctx, 5, 1101); err == nil {
		t.Fatal("a proof for a tree larger than the log")
	}
	if _, err := l.InclusionProof(ctx, 5, 5); err == nil {
		t.Fatal("a proof for an index outside the tree")
	}
}

func TestConsistencyProofs(t *testing.T) {
	l, leaves := proofLog(t)
	ctx := context.Background()
	for _, n := range proofSizes {
		for _, m := range append([]int64{0}, proofSizes...) {
			if m > n {
				break
			}
			p, err := l.ConsistencyProof(ctx, m, n)
			if err != nil {
				t.Fatalf("consistency %d..%d: %v", m, n, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(m), uint64(n), p, mth(leaves[:m]), mth(leaves[:n])); err != nil {
				t.Fatalf("consistency %d..%d does not verify: %v", m, n, err)
			}
			if m > 0 && m < n {
				forged := append([][]byte{}, leaves[:m]...)
				forged[m-1] = leaves[n-1]
				if proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(m), uint64(n), p, mth(forged), mth(leaves[:n])) == nil {
					t.Fatalf("consistency %d..%d verifies another history", m, n)
				}
			}
		}
	}
	if _, err := l.ConsistencyProof(ctx, 10, 5); err == nil {
		t.Fatal("a consistency proof backwards")
	}
}
