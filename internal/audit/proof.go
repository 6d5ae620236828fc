package audit

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// Proofs are built with github.com/transparency-dev/merkle/proof, which
// names the tree nodes a proof needs. A node at tile level or above is
// merged from the tile roots the log keeps in memory; a node below from
// the stored leaf hashes of its tile (at most 255). Both use compact
// ranges: no tree code of our own.

// InclusionProof proves that the record at index is in the tree of the
// given size (index < size <= the current size), RFC 6962 style.
func (l *Log) InclusionProof(ctx context.Context, index, size int64) ([][]byte, error) {
	if err := l.checkSize(size); err != nil {
		return nil, err
	}
	if index < 0 || index >= size {
		return nil, fmt.Errorf("index %d is not in a tree of size %d", index, size)
	}
	nodes, err := proof.Inclusion(uint64(index), uint64(size))
	if err != nil {
		return nil, err
	}
	return l.rehash(ctx, nodes)
}

// ConsistencyProof proves that the tree of size first is a prefix of the
// tree of size second (0 <= first <= second <= the current size).
func (l *Log) ConsistencyProof(ctx context.Context, first, second int64) ([][]byte, error) {
	if err := l.checkSize(second); err != nil {
		return nil, err
	}
	if first < 0 || first > second {
		return nil, fmt.Errorf("tree size %d is not between 0 and %d", first, second)
	}
	nodes, err := proof.Consistency(uint64(first), uint64(second))
	if err != nil {
		return nil, err
	}
	return l.rehash(ctx, nodes)
}

// RootAt returns the root hash of the tree of the given size (at most the
// current size).
func (l *Log) RootAt(ctx context.Context, size int64) ([]byte, error) {
	if err := l.checkSize(size); err != nil {
		return nil, err
	}
	if size == 0 {
		return l.hasher.EmptyRoot(), nil
	}
	r, err := l.rangeOf(ctx, 0, uint64(size), map[uint64][][]byte{})
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// LeafHash returns the stored leaf hash of the record at index.
func (l *Log) LeafHash(ctx context.Context, index int64) ([]byte, error) {
	if size, _ := l.Root(); index < 0 || index >= size {
		return nil, fmt.Errorf("index %d is not in the log (size %d)", index, size)
	}
	h, err := l.st.LeafHashes(ctx, index, index+1)
	if err != nil {
		return nil, err
	}
	if len(h) != 1 {
		return nil, fmt.Errorf("audit log: leaf %d is missing", index)
	}
	return h[0], nil
}

// Record returns the stored body of the record at index.
func (l *Log) Record(ctx context.Context, index int64) ([]byte, error) {
	if size, _ := l.Root(); index < 0 || index >= size {
		return nil, fmt.Errorf("index %d is not in the log (size %d)", index, size)
	}
	b, err := l.st.Leaves(ctx, index, index+1)
	if err != nil {
		return nil, err
	}
	if len(b) != 1 {
		return nil, fmt.Errorf("audit log: record %d is missing", index)
	}
	return b[0], nil
}

func (l *Log) checkSize(size int64) error {
	if cur, _ := l.Root(); size < 0 || size > cur {
		return fmt.Errorf("tree size %d is larger than the log (%d records)", size, cur)
	}
	return nil
}

// rehash computes the hashes of the nodes and folds the ephemeral one.
func (l *Log) rehash(ctx context.Context, nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	leaves := map[uint64][][]byte{} // tile index -> its stored leaf hashes
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		r, err := l.rangeOf(ctx, begin, end, leaves)
		if err != nil {
			return nil, err
		}
		if h := r.Hashes(); len(h) == 1 {
			hashes[i] = h[0]
		} else {
			return nil, fmt.Errorf("audit proof: node %v is not a perfect subtree", id)
		}
	}
	return nodes.Rehash(hashes, l.hasher.HashChildren)
}

// rangeOf returns the compact range of leaves [begin, end), end at most the
// current size: the complete tiles from memory, the rest from storage.
// leaves caches the stored leaf hashes per tile.
func (l *Log) rangeOf(ctx context.Context, begin, end uint64, leaves map[uint64][][]byte) (*compact.Range, error) {
	const tileSize = 1 << tileLevel
	r := l.rf.NewEmptyRange(begin)
	for at := begin; at < end; {
		tile := at >> tileLevel
		tileEnd := (tile + 1) << tileLevel
		if at%tileSize == 0 && tileEnd <= end {
			l.mu.RLock()
			if tile >= uint64(len(l.tiles)) {
				l.mu.RUnlock()
				return nil, fmt.Errorf("audit proof: tile %d is not complete", tile)
			}
			h := l.tiles[tile]
			l.mu.RUnlock()
			tr, err := l.rf.NewRange(at, tileEnd, [][]byte{h})
			if err != nil {
				return nil, err
			}
			if err := r.AppendRange(tr, nil); err != nil {
				return nil, err
			}
			at = tileEnd
			continue
		}
		hs, ok := leaves[tile]
		if !ok || uint64(len(hs)) < min(tileEnd, end)-tile<<tileLevel {
			var err error
			hs, err = l.st.LeafHashes(ctx, int64(tile<<tileLevel), int64(min(tileEnd, end)))
			if err != nil {
				return nil, err
			}
			leaves[tile] = hs
		}
		stop := min(tileEnd, end)
		if uint64(len(hs)) < stop-tile<<tileLevel {
			return nil, fmt.Errorf("audit log: leaves of tile %d are missing", tile)
		}
		for ; at < stop; at++ {
			if err := r.Append(hs[at-tile<<tileLevel], nil); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}
