package engine

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/fhir"
	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
	"github.com/openspine/openspine/internal/store/storetest"
)

// Two search parameters of one type whose index key (store.ParamKey) is the
// same would find each other's index rows: NewService refuses them.
func TestNewServiceRefusesParametersSharingAnIndexKey(t *testing.T) {
	seen := map[int64]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		name := fmt.Sprintf("p%d", i)
		k := store.ParamKey("Thing", name)
		if other, ok := seen[k]; ok {
			a, b = other, name
		}
		seen[k] = name
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "share the index key") {
				t.Fatalf("colliding parameters %s and %s accepted (%v)", a, b, r)
			}
		}()
		NewService("test", "/t", nil, TypeDef{Name: "Thing", Params: []search.Param{{Name: a, Type: search.Token}, {Name: b, Type: search.Token}}})
	}()
	// The same names on different types, or one of them alone, are fine.
	NewService("test", "/t", nil, TypeDef{Name: "Thing", Params: []search.Param{{Name: a, Type: search.Token}}},
		TypeDef{Name: "Other", Params: []search.Param{{Name: b, Type: search.Token}}})
}

// A parameter added to a type after resources were stored: EnsureIndexed
// rebuilds their rows once (searches by it find them), records what they
// were built with, and does nothing at the next start.
func TestEnsureIndexedRebuildsRowsWhenDefinitionsChange(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _, _ := b.Open(t)
		name := search.Param{Name: "name", Type: search.String, Paths: []string{"name"}}
		v1 := NewService("test", "/t", st, TypeDef{Name: "Basic", Params: []search.Param{name}})
		if err := v1.EnsureIndexed(ctx); err != nil {
			t.Fatal(err)
		}
		var cs []store.Change
		for i, code := range []string{"a", "b", "a"} {
			c, err := v1.Prepare("Basic", fmt.Sprintf("r%d", i), fhir.Resource{"resourceType": "Basic", "name": "thing", "code": map[string]any{"coding": []any{map[string]any{"system": "s", "code": code}}}})
			if err != nil {
				t.Fatal(err)
			}
			c.Op = store.Create
			cs = append(cs, c)
		}
		if _, err := st.Apply(ctx, cs); err != nil {
			t.Fatal(err)
		}
		v2 := NewService("test", "/t", st, TypeDef{Name: "Basic", Params: []search.Param{name, {Name: "code", Type: search.Token, Paths: []string{"code"}}}})
		byCode := func() int {
			q, err := search.Parse(v2, "Basic", url.Values{"code": {"s|a"}}, false)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := st.Search(ctx, q, 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(refs)
		}
		if n := byCode(); n != 0 {
			t.Fatalf("%d found before the rebuild", n)
		}
		if err := v2.EnsureIndexed(ctx); err != nil {
			t.Fatal(err)
		}
		if n := byCode(); n != 2 {
			t.Fatalf("%d found after the rebuild, want 2", n)
		}
		def, _ := v2.Type("Basic")
		if got, _ := st.Setting(ctx, v2.indexSetting("Basic")); got != def.indexFingerprint() || got == v1.types["Basic"].indexFingerprint() {
			t.Fatalf("recorded %q", got)
		}
		// the same definitions again, or a new Index version
		if err := v2.EnsureIndexed(ctx); err != nil {
			t.Fatal(err)
		}
		v3 := NewService("test", "/t", st, TypeDef{Name: "Basic", Params: v2.types["Basic"].Params, IndexVersion: 1})
		if v3.types["Basic"].indexFingerprint() == def.indexFingerprint() {
			t.Fatal("a new IndexVersion does not change the fingerprint")
		}
	})
}
