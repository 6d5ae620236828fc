package engine

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
)

// pageTTL is how long a search snapshot stays pageable.
const pageTTL = 10 * time.Minute

// snapshot is the frozen result of a search: the matching versions at the
// time of the first page, so later pages stay consistent while others write.
type snapshot struct {
	query   *search.Query
	refs    []store.Ref
	total   int // -1 when unknown
	expires time.Time
}

type pageCache struct {
	mu    sync.Mutex
	max   int
	items map[string]*snapshot
	order []string
}

func newPageCache(max int) *pageCache {
	return &pageCache{max: max, items: map[string]*snapshot{}}
}

func (c *pageCache) put(s *snapshot) string {
	var b [16]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.expires = time.Now().Add(pageTTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && (len(c.order) >= c.max || c.items[c.order[0]] == nil || time.Now().After(c.items[c.order[0]].expires)) {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[tok] = s
	c.order = append(c.order, tok)
	return tok
}

func (c *pageCache) get(tok string) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.items[tok]
	if s == nil || time.Now().After(s.expires) {
		return nil
	}
	return s
}
