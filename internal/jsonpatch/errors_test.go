package jsonpatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// errCase is a patch that must fail with an *Error at Index whose Reason
// contains reason.
type errCase struct {
	name   string
	doc    string
	patch  string
	index  int
	reason string
}

func (c errCase) run(t *testing.T) {
	t.Helper()
	doc := decode(t, c.doc)
	before := canon(t, doc)
	ops, err := Parse([]byte(c.patch))
	var got any
	if err == nil {
		got, err = Apply(doc, ops)
	}
	var pe *Error
	switch {
	case err == nil:
		t.Fatalf("succeeded with %s, want error %q", canon(t, got), c.reason)
	case !errors.As(err, &pe):
		t.Fatalf("error %v is a %T, want *Error", err, err)
	case got != nil:
		t.Errorf("failed Apply returned a document: %v", got)
	}
	if pe.Index != c.index || !strings.Contains(pe.Reason, c.reason) {
		t.Errorf("got Index %d Reason %q; want Index %d Reason containing %q", pe.Index, pe.Reason, c.index, c.reason)
	}
	if after := canon(t, doc); after != before {
		t.Errorf("input document changed: %s -> %s", before, after)
	}
	t.Logf("error (as expected): %v", err)
}

func TestParseErrors(t *testing.T) {
	cases := []errCase{
		{"empty input", `{}`, ``, -1, "not valid JSON"},
		{"truncated", `{}`, `[{"op":"add"`, -1, "not valid JSON"},
		{"trailing data", `{}`, `[] []`, -1, "not valid JSON"},
		{"missing comma", `{}`, `[{"op":"remove" "path":"/a"}]`, -1, "not valid JSON"},
		{"object not array", `{}`, `{"op":"remove","path":"/a"}`, -1, "must be a JSON array"},
		{"null patch", `{}`, `null`, -1, "must be a JSON array"},
		{"string patch", `{}`, `"add"`, -1, "must be a JSON array"},
		{"number element", `{}`, `[1]`, 0, "must be a JSON object"},
		{"array element", `{}`, `[[]]`, 0, "must be a JSON object"},
		{"null element", `{}`, `[null]`, 0, "must be a JSON object"},
		{"second element bad", `{"a":1}`, `[{"op":"remove","path":"/a"},"x"]`, 1, "must be a JSON object"},
		{"missing op", `{}`, `[{"path":"/a","value":1}]`, 0, `no "op" member`},
		{"op number", `{}`, `[{"op":1,"path":"/a"}]`, 0, `"op" must be a string, not a number`},
		{"op null", `{}`, `[{"op":null,"path":"/a"}]`, 0, `"op" must be a string, not null`},
		{"op object", `{}`, `[{"op":{},"path":"/a"}]`, 0, `"op" must be a string, not an object`},
		{"op empty", `{}`, `[{"op":"","path":"/a"}]`, 0, `"op" is empty`},
		{"op unknown", `{}`, `[{"op":"delete","path":"/a"}]`, 0, `unknown op "delete"`},
		{"op wrong case", `{}`, `[{"op":"Add","path":"/a","value":1}]`, 0, `unknown op "Add"`},
		{"missing path", `{}`, `[{"op":"add","value":1}]`, 0, `no "path" member`},
		{"path number", `{}`, `[{"op":"add","path":1,"value":1}]`, 0, `"path" must be a string, not a number`},
		{"path null", `{}`, `[{"op":"remove","path":null}]`, 0, `"path" must be a string, not null`},
		{"path array", `{}`, `[{"op":"remove","path":["a"]}]`, 0, `"path" must be a string, not an array`},
		{"path no slash", `{}`, `[{"op":"add","path":"a","value":1}]`, 0, `invalid "path"`},
		{"path bad escape", `{}`, `[{"op":"add","path":"/~2","value":1}]`, 0, `not followed by "0" or "1"`},
		{"path trailing tilde", `{}`, `[{"op":"add","path":"/a~","value":1}]`, 0, `not followed by "0" or "1"`},
		{"path too deep", `{}`, `[{"op":"add","path":"` + strings.Repeat("/a", MaxPointerDepth+1) + `","value":1}]`, 0, "more than the limit"},
		{"add no value", `{}`, `[{"op":"add","path":"/a"}]`, 0, `add operation has no "value"`},
		{"replace no value", `{}`, `[{"op":"replace","path":"/a"}]`, 0, `replace operation has no "value"`},
		{"test no value", `{}`, `[{"op":"test","path":"/a"}]`, 0, `test operation has no "value"`},
		{"move no from", `{}`, `[{"op":"move","path":"/a"}]`, 0, `move operation has no "from"`},
		{"copy no from", `{}`, `[{"op":"copy","path":"/a"}]`, 0, `copy operation has no "from"`},
		{"from number", `{}`, `[{"op":"copy","from":7,"path":"/a"}]`, 0, `"from" must be a string, not a number`},
		{"from bool", `{}`, `[{"op":"move","from":true,"path":"/a"}]`, 0, `"from" must be a string, not a boolean`},
		{"from invalid", `{}`, `[{"op":"move","from":"x","path":"/a"}]`, 0, `invalid "from"`},
		{"move into child", `{"a":{}}`, `[{"op":"move","from":"/a","path":"/a/b"}]`, 0, "into one of its own children"},
		{"move root into child", `{"a":{}}`, `[{"op":"move","from":"","path":"/a"}]`, 0, "into one of its own children"},
		{"duplicate op", `{}`, `[{"op":"add","path":"/a","value":1,"op":"remove"}]`, 0, `more than one "op"`},
		{"duplicate path", `{}`, `[{"op":"add","path":"/a","path":"/b","value":1}]`, 0, `more than one "path"`},
		{"duplicate value", `{}`, `[{"op":"add","path":"/a","value":1,"value":2}]`, 0, `more than one "value"`},
		{"duplicate from", `{}`, `[{"op":"copy","from":"/a","from":"/b","path":"/c"}]`, 0, `more than one "from"`},
		{"too many operations", `{}`, tooManyOps(MaxOperations + 1), -1, "more than 1000 operations"},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestApplyErrors(t *testing.T) {
	doc := `{"a": {"b": 1}, "arr": [1, 2, 3], "s": "str", "n": null}`
	cases := []errCase{
		{"remove missing member", doc, `[{"op":"remove","path":"/x"}]`, 0, `no member "x"`},
		{"remove missing nested", doc, `[{"op":"remove","path":"/a/x"}]`, 0, `no member "x" in the object at "/a"`},
		{"remove index out of range", doc, `[{"op":"remove","path":"/arr/3"}]`, 0, "out of range"},
		{"remove dash", doc, `[{"op":"remove","path":"/arr/-"}]`, 0, `"-" refers to`},
		{"remove root", doc, `[{"op":"remove","path":""}]`, 0, "cannot remove the whole document"},
		{"remove through string", doc, `[{"op":"remove","path":"/s/0"}]`, 0, "cannot look up"},
		{"remove through null", doc, `[{"op":"remove","path":"/n/x"}]`, 0, "in null"},
		{"replace missing member", doc, `[{"op":"replace","path":"/x","value":1}]`, 0, `no member "x"`},
		{"replace index at length", doc, `[{"op":"replace","path":"/arr/3","value":1}]`, 0, "out of range"},
		{"replace dash", doc, `[{"op":"replace","path":"/arr/-","value":1}]`, 0, `"-" refers to`},
		{"add index past end", doc, `[{"op":"add","path":"/arr/4","value":1}]`, 0, "out of range"},
		{"add leading zero", doc, `[{"op":"add","path":"/arr/01","value":1}]`, 0, `invalid array index "01"`},
		{"add negative index", doc, `[{"op":"add","path":"/arr/-1","value":1}]`, 0, `invalid array index "-1"`},
		{"add empty index", doc, `[{"op":"add","path":"/arr/","value":1}]`, 0, `invalid array index ""`},
		{"add non-numeric index", doc, `[{"op":"add","path":"/arr/x","value":1}]`, 0, `invalid array index "x"`},
		{"add huge index", doc, `[{"op":"add","path":"/arr/99999999999999999999999","value":1}]`, 0, "out of range"},
		{"add to string", doc, `[{"op":"add","path":"/s/x","value":1}]`, 0, "cannot add to a string"},
		{"add to number", doc, `[{"op":"add","path":"/a/b/c","value":1}]`, 0, "cannot add to a number"},
		{"add missing parent", doc, `[{"op":"add","path":"/x/y","value":1}]`, 0, `no member "x"`},
		{"get through dash", doc, `[{"op":"add","path":"/arr/-/x","value":1}]`, 0, `"-" refers to`},
		{"test missing", doc, `[{"op":"test","path":"/x","value":null}]`, 0, `no member "x"`},
		{"test mismatch", doc, `[{"op":"test","path":"/a/b","value":2}]`, 0, "test failed"},
		{"test type mismatch", doc, `[{"op":"test","path":"/s","value":["str"]}]`, 0, "test failed"},
		{"move from missing", doc, `[{"op":"move","from":"/x","path":"/y"}]`, 0, `"from": no member "x"`},
		{"move onto itself missing", doc, `[{"op":"move","from":"/x","path":"/x"}]`, 0, `no member "x"`},
		{"move to bad target", doc, `[{"op":"move","from":"/a","path":"/arr/9"}]`, 0, "out of range"},
		{"copy from missing", doc, `[{"op":"copy","from":"/arr/7","path":"/y"}]`, 0, `"from": array index "7" is out of range`},
		{"copy to bad target", doc, `[{"op":"copy","from":"/a","path":"/s/x"}]`, 0, "cannot add to a string"},
		{"fails after successes", doc, `[
			{"op":"add","path":"/new","value":{"k":[1]}},
			{"op":"remove","path":"/arr/0"},
			{"op":"replace","path":"/a/b","value":"changed"},
			{"op":"move","from":"/s","path":"/moved"},
			{"op":"copy","from":"/new","path":"/copied"},
			{"op":"add","path":"/new/k/-","value":2},
			{"op":"test","path":"/a/b","value":1}]`, 6, "test failed"},
		{"max depth pointer accepted", doc, `[{"op":"test","path":"` + strings.Repeat("/a", MaxPointerDepth) + `","value":1}]`, 0, `no member "a" in the object at "/a"`},
		{"copy size limit", `{"big": "` + strings.Repeat("x", 1<<20) + `"}`, copyOps(20), 7, "exceed the limit"},
		{"copy doubling limit", `[[]]`, doublingOps(40), 18, "exceed the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

// TestApplyErrorsUnparsedOps covers ops built directly rather than by Parse.
func TestApplyErrorsUnparsedOps(t *testing.T) {
	cases := []struct {
		name   string
		ops    []Op
		index  int
		reason string
	}{
		{"unknown op", []Op{{Op: "frob", Path: "/a"}}, 0, `unknown op "frob"`},
		{"no value", []Op{{Op: "remove", Path: "/a"}, {Op: "add", Path: "/a", Value: 1}}, 1, `no "value"`},
		{"bad path", []Op{{Op: "remove", Path: "a"}}, 0, `invalid "path"`},
		{"bad from", []Op{{Op: "copy", Path: "/a", From: "~"}}, 0, `invalid "from"`},
		{"move into child", []Op{{Op: "move", Path: "/a/b", From: "/a"}}, 0, "own children"},
		{"too many", make([]Op, MaxOperations+1), -1, "more than 1000 operations"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := map[string]any{"a": map[string]any{}}
			got, err := Apply(doc, c.ops)
			var pe *Error
			if !errors.As(err, &pe) || got != nil {
				t.Fatalf("Apply = %v, %v; want nil, *Error", got, err)
			}
			if pe.Index != c.index || !strings.Contains(pe.Reason, c.reason) {
				t.Errorf("got Index %d Reason %q; want Index %d Reason containing %q", pe.Index, pe.Reason, c.index, c.reason)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	cases := []struct {
		err  *Error
		want string
	}{
		{&Error{Index: -1, Reason: "patch document must be a JSON array"}, "jsonpatch: patch document must be a JSON array"},
		{&Error{Index: 2, Op: "test", Path: "/baz", Reason: "test failed"}, `jsonpatch: operation 2 (test "/baz"): test failed`},
		{&Error{Index: 0, Reason: "operation must be a JSON object"}, "jsonpatch: operation 0: operation must be a JSON object"},
		{&Error{Index: 1, Op: "x y", Path: "/" + strings.Repeat("a", 100), Reason: "r"},
			`jsonpatch: operation 1 ("x y" "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"..."aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"): r`},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

func tooManyOps(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = `{"op":"test","path":"","value":{}}`
	}
	return "[" + strings.Join(ops, ",") + "]"
}

// copyOps builds n operations each copying /big to a new member.
func copyOps(n int) string {
	var ops []map[string]string
	for i := 0; i < n; i++ {
		ops = append(ops, map[string]string{"op": "copy", "from": "/big", "path": fmt.Sprintf("/c%d", i)})
	}
	b, _ := json.Marshal(ops)
	return string(b)
}

// doublingOps builds n operations each appending a copy of the whole
// document (an array) to itself.
func doublingOps(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(`{"op":"copy","from":"","path":"/-"},`, n), ",") + "]"
}
