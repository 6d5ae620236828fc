package engine

import (
	"context"
	"net/http"
	"strconv"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// maxIncludes bounds the resources added by _include and _revinclude per page.
const maxIncludes = 500

// Page is one page of a search.
type Page struct {
	Query    *search.Query
	Matches  []store.Record
	Included []store.Record
	Total    int    // -1 when not computed
	Offset   int    // of the first match in the whole result
	Token    string // snapshot token when there are further pages
	HasNext  bool
	Warning  string // e.g. results truncated
}

// Search runs q and returns its first page. When more matches exist than
// fit a page, the matching versions are kept as a snapshot so that later
// pages (Service.Page) are consistent whatever is written meanwhile.
func (s *Service) Search(ctx context.Context, q *search.Query) (*Page, error) {
	if q.Summary == "count" {
		n, err := s.Store.Count(ctx, q)
		if err != nil {
			return nil, err
		}
		return &Page{Query: q, Total: n}, nil
	}
	refs, err := s.Store.Search(ctx, q, s.SnapshotCap+1)
	if err != nil {
		return nil, err
	}
	p := &Page{Query: q, Total: len(refs)}
	if len(refs) > s.SnapshotCap {
		refs = refs[:s.SnapshotCap]
		p.Total = -1
		p.Warning = "more than " + strconv.Itoa(s.SnapshotCap) + " resources matched; only the first " + strconv.Itoa(s.SnapshotCap) + " can be paged through: refine the search"
		if q.Total == "accurate" {
			if p.Total, err = s.Store.Count(ctx, q); err != nil {
				return nil, err
			}
		}
	}
	if q.Total == "none" {
		p.Total = -1
	}
	if len(refs) > q.Count {
		p.Token = s.pages.put(&snapshot{query: q, refs: refs, total: p.Total})
	}
	return p, s.fill(ctx, p, refs, 0)
}

// Page returns a later page of a snapshot.
func (s *Service) Page(ctx context.Context, token string, offset, count int) (*Page, error) {
	snap := s.pages.get(token)
	if snap == nil {
		return nil, fhir.NewError(http.StatusGone, fhir.CodeInvalidSearchData, "this search page has expired (pages are kept for %s); run the search again", pageTTL)
	}
	if offset < 0 || offset > len(snap.refs) {
		return nil, fhir.InvalidSearch("page offset %d is outside the result (%d matches)", offset, len(snap.refs))
	}
	q := *snap.query
	if count > 0 {
		q.Count = min(count, search.MaxCount)
	}
	p := &Page{Query: &q, Total: snap.total, Offset: offset, Token: token}
	return p, s.fill(ctx, p, snap.refs, offset)
}

func (s *Service) fill(ctx context.Context, p *Page, refs []store.Ref, offset int) error {
	end := min(offset+p.Query.Count, len(refs))
	page := refs[offset:end]
	p.HasNext = end < len(refs)
	if !p.HasNext && offset == 0 {
		p.Token = ""
	}
	var err error
	if p.Matches, err = s.Store.Fetch(ctx, page); err != nil {
		return err
	}
	seen := map[store.Ref]bool{}
	for _, r := range p.Matches {
		seen[store.Ref{Type: r.Type, ID: r.ID}] = true
	}
	add := func(recs []store.Record) {
		for _, r := range recs {
			k := store.Ref{Type: r.Type, ID: r.ID}
			if !seen[k] && len(p.Included) < maxIncludes {
				seen[k] = true
				p.Included = append(p.Included, r)
			}
		}
	}
	for _, inc := range p.Query.Include {
		recs, err := s.Store.Include(ctx, page, inc, maxIncludes)
		if err != nil {
			return err
		}
		add(recs)
	}
	for _, inc := range p.Query.RevInclude {
		recs, err := s.Store.RevInclude(ctx, page, inc, maxIncludes)
		if err != nil {
			return err
		}
		add(recs)
	}
	return nil
}
