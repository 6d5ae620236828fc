package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/openspine/openspine/internal/search"
	"github.com/openspine/openspine/internal/store"
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
