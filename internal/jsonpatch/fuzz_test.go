package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzApply parses and applies arbitrary patches to arbitrary documents.
// It checks that nothing panics, that errors are *Error values, that the
// input document is never modified (also after the result is scribbled
// over), and that a successful result marshals to JSON that decodes back
// to an equal value. Seeds are also in testdata/fuzz/FuzzApply.
func FuzzApply(f *testing.F) {
	seeds := []struct{ doc, patch string }{
		{`{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`},
		{`{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`},
		{`{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`},
		{`{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`},
		{`{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`},
		{`{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`},
		{`{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`},
		{`{"baz":"qux","foo":["a",2,"c"]}`, `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`},
		{`{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`},
		{`{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux","xyz":123}]`},
		{`{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`},
		{`{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux","op":"remove"}]`},
		{`{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10}]`},
		{`{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":"10"}]`},
		{`{"foo":["bar"]}`, `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`},
		{`[1,2,3]`, `[{"op":"copy","from":"","path":"/-"},{"op":"copy","from":"","path":"/0"}]`},
		{`{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/b"}]`},
		{`null`, `[{"op":"add","path":"","value":{"x":[1.0,-0,1e999]}}]`},
		{`{}`, `{"op":"add"}`},
		{`{}`, `[1,null,"x",[]]`},
	}
	for _, s := range seeds {
		f.Add([]byte(s.doc), []byte(s.patch))
	}
	// Chains of copies reach the production limit in a few dozen bytes of
	// patch; a lower limit keeps each run fast without changing the code
	// paths exercised.
	saved := copyLimit
	copyLimit = 64 << 10
	f.Cleanup(func() { copyLimit = saved })
	f.Fuzz(func(t *testing.T, docJSON, patchJSON []byte) {
		dec := json.NewDecoder(bytes.NewReader(docJSON))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return
		}
		before, err := json.Marshal(doc)
		if err != nil {
			return
		}
		unchanged := func(when string) {
			after, err := json.Marshal(doc)
			if err != nil || !bytes.Equal(before, after) {
				t.Fatalf("input document changed %s: %s -> %s (%v)", when, before, after, err)
			}
		}

		ops, err := Parse(patchJSON)
		if err != nil {
			checkError(t, err, -1, MaxOperations)
			return
		}
		if len(ops) > MaxOperations {
			t.Fatalf("Parse returned %d operations", len(ops))
		}
		res, err := Apply(doc, ops)
		unchanged("by Apply")
		if err != nil {
			checkError(t, err, 0, len(ops)-1)
			if res != nil {
				t.Fatalf("failed Apply returned a result: %v", res)
			}
			return
		}
		out, err := json.Marshal(res)
		if err != nil || !json.Valid(out) {
			t.Fatalf("result does not marshal to valid JSON: %q, %v", out, err)
		}
		back := json.NewDecoder(bytes.NewReader(out))
		back.UseNumber()
		var round any
		if err := back.Decode(&round); err != nil || !equal(res, round) {
			t.Fatalf("result does not round-trip: %s (%v)", out, err)
		}
		scribble(res)
		unchanged("through the result")
	})
}

// checkError asserts err is an *Error with a reason and an index in range.
func checkError(t *testing.T, err error, minIndex, maxIndex int) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is a %T, want *Error", err, err)
	}
	if pe.Reason == "" || pe.Index != -1 && (pe.Index < minIndex || pe.Index > maxIndex) {
		t.Fatalf("bad *Error %+v", pe)
	}
	_ = pe.Error()
}
