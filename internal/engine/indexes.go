package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
)

// indexFingerprint names what a type's index rows are made of: its search
// parameters and the version of its Index function. Rows written under
// another fingerprint are rebuilt by EnsureIndexed.
func (t *TypeDef) indexFingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d", t.Name, t.IndexVersion)
	for _, p := range t.Params {
		fmt.Fprintf(h, "|%s:%s:%s:%s", p.Name, p.Type, strings.Join(p.Paths, ","), strings.Join(p.Targets, ","))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// indexSetting is the store setting that keeps the fingerprint of typ's rows.
func (s *Service) indexSetting(typ string) string { return "index/" + s.Name + "/" + typ }

// Reindex rebuilds the index rows of every current resource of typ from
// its stored body, then records the definitions they were built with.
func (s *Service) Reindex(ctx context.Context, typ string) (int, error) {
	t, err := s.Type(typ)
	if err != nil {
		return 0, err
	}
	n, err := s.Store.Reindex(ctx, typ, func(body []byte) ([]search.Entry, error) {
		res, err := fhir.DecodeResource(body, typ)
		if err != nil {
			return nil, err
		}
		return t.IndexEntries(res), nil
	})
	if err != nil {
		return n, err
	}
	return n, s.Store.SetSetting(ctx, s.indexSetting(typ), t.indexFingerprint())
}

// EnsureIndexed rebuilds the index rows of each type whose search
// definitions changed since they were written (a parameter added, removed
// or changed, a new IndexVersion; or rows from before definitions were
// recorded), so that no search misses a resource stored earlier. Run it
// before serving: a type is searched correctly only once it is done.
func (s *Service) EnsureIndexed(ctx context.Context) error {
	for _, typ := range s.TypeNames() {
		stored, err := s.Store.Setting(ctx, s.indexSetting(typ))
		if err != nil {
			return err
		}
		if stored == s.types[typ].indexFingerprint() {
			continue
		}
		start := time.Now()
		n, err := s.Reindex(ctx, typ)
		if err != nil {
			return fmt.Errorf("%s: rebuilding the search index of %s: %w", s.Name, typ, err)
		}
		if n > 0 {
			slog.Warn("search definitions changed: index rebuilt", "service", s.Name, "type", typ, "resources", n, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return nil
}
