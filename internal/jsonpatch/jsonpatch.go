// Package jsonpatch implements JSON Patch (RFC 6902) over JSON values decoded
// with encoding/json's UseNumber: map[string]any, []any, string, json.Number,
// bool and nil. Paths are JSON Pointers (RFC 6901).
//
// Parse decodes and validates a patch document; Apply applies the parsed
// operations atomically to a deep copy of a document, so the caller's value
// is never modified and a failed patch has no effect. Every failure is
// reported as an *Error naming the operation and the reason.
//
// To bound the work an untrusted patch can cause, a patch may hold at most
// MaxOperations operations, a pointer at most MaxPointerDepth reference
// tokens, and the "copy" operations of one patch may together duplicate at
// most about 8 MiB (a chain of copies could otherwise double the document
// with every operation).
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on patch documents.
const (
	// MaxOperations is the largest number of operations in one patch.
	MaxOperations = 1000
	// MaxPointerDepth is the largest number of reference tokens in a path.
	MaxPointerDepth = 100
)

// Op is one parsed RFC 6902 operation. HasValue records whether the
// operation carried a "value" member (which may be JSON null); "add",
// "replace" and "test" require it. From is used by "move" and "copy".
type Op struct {
	Op, Path, From string
	Value          any
	HasValue       bool
}

// Error says which operation failed and why. Index is the operation's
// position in the patch, or -1 for a problem with the patch document as a
// whole (not JSON, not an array, too many operations).
type Error struct {
	Index  int
	Op     string
	Path   string
	Reason string
}

func (e *Error) Error() string {
	if e.Index < 0 {
		return "jsonpatch: " + e.Reason
	}
	var b strings.Builder
	fmt.Fprintf(&b, "jsonpatch: operation %d", e.Index)
	if e.Op != "" {
		op := e.Op
		switch op {
		case "add", "remove", "replace", "move", "copy", "test":
		default:
			op = quoteShort(op)
		}
		fmt.Fprintf(&b, " (%s %s)", op, quoteShort(e.Path))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

func docError(format string, args ...any) *Error {
	return &Error{Index: -1, Reason: fmt.Sprintf(format, args...)}
}

// Parse decodes and validates a patch document: a JSON array of operation
// objects. Numbers in values are decoded as json.Number. Members not defined
// for an operation are ignored (RFC 6902 section 4), but a repeated "op",
// "path", "from" or "value" member is an error (RFC 6902 Appendix A.13).
func Parse(data []byte) ([]Op, error) {
	if !json.Valid(data) {
		var raw json.RawMessage
		err := json.Unmarshal(data, &raw)
		if err == nil {
			err = errors.New("malformed input")
		}
		return nil, docError("patch is not valid JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, docError("patch is not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, docError("patch document must be a JSON array of operations")
	}
	ops := []Op{}
	for dec.More() {
		if len(ops) == MaxOperations {
			return nil, docError("patch has more than %d operations", MaxOperations)
		}
		op, err := parseOp(dec, len(ops))
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, docError("patch is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, docError("unexpected data after the patch array")
	}
	return ops, nil
}

// parseOp reads one operation object from dec.
func parseOp(dec *json.Decoder, index int) (Op, error) {
	var op Op
	fail := func(format string, args ...any) (Op, error) {
		return Op{}, &Error{Index: index, Op: op.Op, Path: op.Path, Reason: fmt.Sprintf(format, args...)}
	}
	syntax := func(err error) (Op, error) {
		return Op{}, docError("patch is not valid JSON: %v", err)
	}
	tok, err := dec.Token()
	if err != nil {
		return syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fail("operation must be a JSON object")
	}
	var rawOp, rawPath, rawFrom any
	var hasOp, hasPath, hasFrom bool
	var dup string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return syntax(err)
		}
		var seen *bool
		var dst *any
		switch key {
		case "op":
			dst, seen = &rawOp, &hasOp
		case "path":
			dst, seen = &rawPath, &hasPath
		case "from":
			dst, seen = &rawFrom, &hasFrom
		case "value":
			dst, seen = &op.Value, &op.HasValue
		default:
			continue // unrecognized members are ignored (RFC 6902 A.11)
		}
		if *seen {
			if dup == "" {
				dup = key // reported below, once the operation is known
			}
			continue
		}
		*dst, *seen = v, true
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return syntax(err)
	}
	// Fill in what is known before reporting, so errors name the operation.
	if s, ok := rawOp.(string); ok {
		op.Op = s
	}
	if s, ok := rawPath.(string); ok {
		op.Path = s
	}
	if s, ok := rawFrom.(string); ok {
		op.From = s
	}
	switch {
	case dup != "":
		return fail("operation has more than one %q member", dup)
	case !hasOp:
		return fail(`operation has no "op" member`)
	case op.Op == "" && rawOp != "":
		return fail(`"op" must be a string, not %s`, kindOf(rawOp))
	case !hasPath:
		return fail(`operation has no "path" member`)
	case op.Path == "" && rawPath != "":
		return fail(`"path" must be a string, not %s`, kindOf(rawPath))
	}
	if op.Op == "move" || op.Op == "copy" {
		if !hasFrom {
			return fail(`%s operation has no "from" member`, op.Op)
		}
		if op.From == "" && rawFrom != "" {
			return fail(`"from" must be a string, not %s`, kindOf(rawFrom))
		}
	} else {
		op.From = "" // "from" is not defined for this operation: ignore it
	}
	if _, _, err := checkOp(&op); err != nil {
		return fail("%s", err.Error())
	}
	return op, nil
}

// checkOp validates an operation's name, pointers and required members and
// returns its parsed path and (for move and copy) from pointers.
func checkOp(op *Op) (path, from []string, err error) {
	switch op.Op {
	case "add", "remove", "replace", "move", "copy", "test":
	case "":
		return nil, nil, errors.New(`"op" is empty`)
	default:
		return nil, nil, fmt.Errorf("unknown op %s (want add, remove, replace, move, copy or test)", quoteShort(op.Op))
	}
	path, err = ParsePointer(op.Path)
	if err != nil {
		return nil, nil, fmt.Errorf(`invalid "path": %v`, err)
	}
	switch op.Op {
	case "add", "replace", "test":
		if !op.HasValue {
			return nil, nil, fmt.Errorf(`%s operation has no "value" member`, op.Op)
		}
	case "move", "copy":
		from, err = ParsePointer(op.From)
		if err != nil {
			return nil, nil, fmt.Errorf(`invalid "from": %v`, err)
		}
		if op.Op == "move" && len(path) > len(from) && hasPrefix(path, from) {
			return nil, nil, errors.New("cannot move a value into one of its own children")
		}
	}
	return path, from, nil
}

// hasPrefix reports whether the pointer p starts with the tokens of prefix.
func hasPrefix(p, prefix []string) bool {
	if len(prefix) > len(p) {
		return false
	}
	for i, t := range prefix {
		if p[i] != t {
			return false
		}
	}
	return true
}

// kindOf names the JSON type of v for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, float32, int, int64, int32, uint, uint64, uint32:
		return "a number"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
