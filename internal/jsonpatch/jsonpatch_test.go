package jsonpatch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestOperations(t *testing.T) {
	cases := []patchCase{
		{name: "add replaces existing member", doc: `{"a":1}`,
			patch: `[{"op":"add","path":"/a","value":2}]`, want: `{"a":2}`},
		{name: "add null value", doc: `{}`,
			patch: `[{"op":"add","path":"/a","value":null}]`, want: `{"a":null}`},
		{name: "add whole document", doc: `{"a":1}`,
			patch: `[{"op":"add","path":"","value":[1]}]`, want: `[1]`},
		{name: "add to null document root", doc: `null`,
			patch: `[{"op":"add","path":"","value":{"x":true}}]`, want: `{"x":true}`},
		{name: "add append to empty array", doc: `{"a":[]}`,
			patch: `[{"op":"add","path":"/a/-","value":1}]`, want: `{"a":[1]}`},
		{name: "add at array length", doc: `{"a":[1]}`,
			patch: `[{"op":"add","path":"/a/1","value":2}]`, want: `{"a":[1,2]}`},
		{name: "add at index 0", doc: `[1,2]`,
			patch: `[{"op":"add","path":"/0","value":0}]`, want: `[0,1,2]`},
		{name: "dash is a member name in objects", doc: `{}`,
			patch: `[{"op":"add","path":"/-","value":1}]`, want: `{"-":1}`},
		{name: "empty member name", doc: `{"":{"":1}}`,
			patch: `[{"op":"replace","path":"//","value":2}]`, want: `{"":{"":2}}`},
		{name: "escaped member names", doc: `{}`,
			patch: `[{"op":"add","path":"/a~1b","value":1},{"op":"add","path":"/m~0n","value":2}]`,
			want:  `{"a/b":1,"m~n":2}`},
		{name: "remove last array element", doc: `[1,2,3]`,
			patch: `[{"op":"remove","path":"/2"}]`, want: `[1,2]`},
		{name: "remove nested", doc: `{"a":{"b":[{"c":1,"d":2}]}}`,
			patch: `[{"op":"remove","path":"/a/b/0/c"}]`, want: `{"a":{"b":[{"d":2}]}}`},
		{name: "replace array element", doc: `[1,2,3]`,
			patch: `[{"op":"replace","path":"/1","value":{"x":[]}}]`, want: `[1,{"x":[]},3]`},
		{name: "replace whole document", doc: `{"a":1}`,
			patch: `[{"op":"replace","path":"","value":"s"}]`, want: `"s"`},
		{name: "move array element backwards", doc: `[0,1,2,3]`,
			patch: `[{"op":"move","from":"/3","path":"/1"}]`, want: `[0,3,1,2]`},
		{name: "move to end with dash", doc: `[0,1,2]`,
			patch: `[{"op":"move","from":"/0","path":"/-"}]`, want: `[1,2,0]`},
		{name: "move onto itself", doc: `{"a":{"b":1}}`,
			patch: `[{"op":"move","from":"/a","path":"/a"}]`, want: `{"a":{"b":1}}`},
		{name: "move to sibling with common prefix", doc: `{"a":1}`,
			patch: `[{"op":"move","from":"/a","path":"/ab"}]`, want: `{"ab":1}`},
		{name: "move between arrays", doc: `{"x":[1,2],"y":[]}`,
			patch: `[{"op":"move","from":"/x/0","path":"/y/0"}]`, want: `{"x":[2],"y":[1]}`},
		{name: "move child up to replace parent", doc: `{"a":{"b":{"c":1}}}`,
			patch: `[{"op":"move","from":"/a/b","path":"/a"}]`, want: `{"a":{"c":1}}`},
		{name: "copy is independent", doc: `{"a":{"k":[1]}}`,
			patch: `[{"op":"copy","from":"/a","path":"/b"},{"op":"add","path":"/b/k/-","value":2}]`,
			want:  `{"a":{"k":[1]},"b":{"k":[1,2]}}`},
		{name: "copy whole document into itself", doc: `{"a":1}`,
			patch: `[{"op":"copy","from":"","path":"/self"}]`, want: `{"a":1,"self":{"a":1}}`},
		{name: "copy into array", doc: `{"a":[1,2]}`,
			patch: `[{"op":"copy","from":"/a/0","path":"/a/-"}]`, want: `{"a":[1,2,1]}`},
		{name: "test root", doc: `{"a":[1,{"b":null}]}`,
			patch: `[{"op":"test","path":"","value":{"a":[1,{"b":null}]}}]`, want: `{"a":[1,{"b":null}]}`},
		{name: "test numbers by value", doc: `{"n":1,"f":[0.5,100,-0]}`,
			patch: `[{"op":"test","path":"/n","value":1.0},{"op":"test","path":"/n","value":1e0},
			        {"op":"test","path":"/f","value":[5e-1,1E2,0]}]`,
			want: `{"n":1,"f":[0.5,100,-0]}`},
		{name: "test ignores member order", doc: `{"o":{"x":1,"y":2}}`,
			patch: `[{"op":"test","path":"/o","value":{"y":2,"x":1}}]`, want: `{"o":{"x":1,"y":2}}`},
		{name: "empty patch", doc: `{"a":1}`, patch: `[]`, want: `{"a":1}`},
		{name: "from ignored when not used", doc: `{}`,
			patch: `[{"op":"add","path":"/a","value":1,"from":5}]`, want: `{"a":1}`},
		{name: "exactly max operations", doc: `{}`, patch: tooManyOps(MaxOperations), want: `{}`},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{`1`, `1.0`, true},
		{`1`, `1e0`, true},
		{`100`, `1E2`, true},
		{`100`, `1e+2`, true},
		{`0.01`, `1e-2`, true},
		{`-0`, `0`, true},
		{`0e5`, `0.000`, true},
		{`1e400`, `10e399`, true},
		{`123456789012345678901234567890`, `1.2345678901234567890123456789e29`, true},
		{`1`, `2`, false},
		{`1`, `-1`, false},
		{`1e400`, `1e401`, false},
		{`12345678901234567890`, `12345678901234567891`, false},
		{`1`, `"1"`, false},
		{`null`, `false`, false},
		{`null`, `null`, true},
		{`true`, `true`, true},
		{`"a"`, `"b"`, false},
		{`{}`, `[]`, false},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":1,"b":2}`, `{"b":2.0,"a":1}`, true},
		{`{"a":null}`, `{"b":null}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`[1,[2]]`, `[1.0,[2e0]]`, true},
		{`[]`, `[null]`, false},
	}
	for _, c := range cases {
		a, b := decode(t, c.a), decode(t, c.b)
		if got := equal(a, b); got != c.want {
			t.Errorf("equal(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := equal(b, a); got != c.want {
			t.Errorf("equal(%s, %s) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
	// Numbers of other Go types compare by value with json.Number.
	if !equal(float64(1.5), json.Number("15e-1")) || !equal(int64(7), json.Number("7.0")) || equal(3, json.Number("4")) {
		t.Error("numeric Go types are not compared by value")
	}
	// Text that is not a number is compared as text.
	if !equal(json.Number("x"), json.Number("x")) || equal(json.Number("1x"), json.Number("1")) {
		t.Error("invalid number text")
	}
}

func TestParsePointer(t *testing.T) {
	cases := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: []string{}},
		{in: "/", want: []string{""}},
		{in: "//", want: []string{"", ""}},
		{in: "/foo/0", want: []string{"foo", "0"}},
		{in: "/a~1b", want: []string{"a/b"}},
		{in: "/m~0n", want: []string{"m~n"}},
		{in: "/~01", want: []string{"~1"}},
		{in: "/~10", want: []string{"/0"}},
		{in: "/~0~1~0", want: []string{"~/~"}},
		{in: "/ ", want: []string{" "}},
		{in: strings.Repeat("/x", MaxPointerDepth), want: strings.Split(strings.Repeat("x/", MaxPointerDepth-1)+"x", "/")},
		{in: "foo", wantErr: true},
		{in: "#/foo", wantErr: true},
		{in: "/~", wantErr: true},
		{in: "/~2", wantErr: true},
		{in: "/a/b~", wantErr: true},
		{in: strings.Repeat("/x", MaxPointerDepth+1), wantErr: true},
	}
	for _, c := range cases {
		got, err := ParsePointer(c.in)
		if c.wantErr {
			if err == nil {
				t.Errorf("ParsePointer(%q) = %q, want error", c.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParsePointer(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if err == nil && formatPointer(got) != c.in {
			t.Errorf("formatPointer(ParsePointer(%q)) = %q", c.in, formatPointer(got))
		}
	}
}

func TestParseFields(t *testing.T) {
	ops, err := Parse([]byte(`[
		{"op":"add","path":"/a","value":1.50},
		{"op":"move","from":"/a","path":"/b","value":"ignored"},
		{"op":"remove","path":"/b","from":"/ignored"},
		{"op":"test","path":"","value":null}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{Op: "add", Path: "/a", Value: json.Number("1.50"), HasValue: true},
		{Op: "move", Path: "/b", From: "/a", Value: "ignored", HasValue: true},
		{Op: "remove", Path: "/b"},
		{Op: "test", Path: "", Value: nil, HasValue: true},
	}
	if !reflect.DeepEqual(ops, want) {
		t.Errorf("Parse = %#v\nwant %#v", ops, want)
	}
}

// TestAtomicAndUnaliased checks that Apply never modifies its inputs and
// that the result shares nothing with them.
func TestAtomicAndUnaliased(t *testing.T) {
	doc := decode(t, `{"a":{"k":[1,2]},"b":[{"x":1}]}`)
	before := canon(t, doc)
	ops, err := Parse([]byte(`[
		{"op":"add","path":"/v","value":{"inner":[1]}},
		{"op":"add","path":"/v/inner/-","value":2},
		{"op":"add","path":"/a/k/0","value":0},
		{"op":"remove","path":"/b/0/x"},
		{"op":"copy","from":"/a","path":"/c"}]`))
	if err != nil {
		t.Fatal(err)
	}
	opsBefore := canon(t, ops[0].Value)

	got, err := Apply(doc, ops)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"k":[0,1,2]},"b":[{}],"c":{"k":[0,1,2]},"v":{"inner":[1,2]}}`
	if g := canon(t, got); g != want {
		t.Errorf("result %s, want %s", g, want)
	}
	// Scribble over the result: neither doc nor the ops may change.
	scribble(got)
	if after := canon(t, doc); after != before {
		t.Errorf("input changed: %s -> %s", before, after)
	}
	if after := canon(t, ops[0].Value); after != opsBefore {
		t.Errorf("op value changed: %s -> %s", opsBefore, after)
	}
	// A second application of the same ops gives the same result.
	again, err := Apply(doc, ops)
	if err != nil || canon(t, again) != want {
		t.Errorf("second Apply = %s, %v", canon(t, again), err)
	}

	// A failing patch returns nil and leaves doc alone.
	bad := append(ops[:len(ops):len(ops)], Op{Op: "test", Path: "/a", Value: "no", HasValue: true})
	if res, err := Apply(doc, bad); err == nil || res != nil {
		t.Errorf("failing patch: Apply = %v, %v", res, err)
	}
	if after := canon(t, doc); after != before {
		t.Errorf("input changed by failing patch: %s -> %s", before, after)
	}
}

// scribble destroys every map and slice reachable from v.
func scribble(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			scribble(e)
			delete(x, k)
		}
		x["scribbled"] = true
	case []any:
		for i, e := range x {
			scribble(e)
			x[i] = "scribbled"
		}
	}
}
