package jsonpatch

import (
	"errors"
	"fmt"
)

// copyLimit bounds the estimated size (see measure) of everything the "copy"
// operations of one patch duplicate: enough to copy any part of a FHIR body
// of the usual 8 MiB limit, while keeping a chain of copies, which could
// otherwise double the document with every operation, cheap. It is a
// variable so that the fuzz target can lower it.
var copyLimit int64 = 8 << 20

// Apply applies ops in order to a deep copy of doc and returns the copy.
// doc is a value decoded with UseNumber (map[string]any, []any, string,
// json.Number, bool, nil) and is never modified; values of other types are
// treated as opaque leaves. The patch is atomic: if any operation fails,
// Apply returns nil and an *Error for the first failing operation. The
// result shares no maps or slices with doc or ops.
func Apply(doc any, ops []Op) (any, error) {
	if len(ops) > MaxOperations {
		return nil, docError("patch has more than %d operations", MaxOperations)
	}
	a := &applier{doc: deepCopy(doc), budget: copyLimit}
	for i := range ops {
		if err := a.apply(&ops[i]); err != nil {
			return nil, &Error{Index: i, Op: ops[i].Op, Path: ops[i].Path, Reason: err.Error()}
		}
	}
	return a.doc, nil
}

type applier struct {
	doc    any
	budget int64 // remaining estimated bytes that copy may duplicate
}

func (a *applier) apply(op *Op) error {
	path, from, err := checkOp(op)
	if err != nil {
		return err
	}
	switch op.Op {
	case "add":
		return a.add(path, deepCopy(op.Value))
	case "remove":
		_, err := a.remove(path)
		return err
	case "replace":
		return a.replace(path, deepCopy(op.Value))
	case "move":
		if len(from) == len(path) && hasPrefix(path, from) {
			_, err := a.get(from) // moving a value onto itself: it must exist
			return err
		}
		v, err := a.remove(from)
		if err != nil {
			return fmt.Errorf(`"from": %v`, err)
		}
		return a.add(path, v)
	case "copy":
		v, err := a.get(from)
		if err != nil {
			return fmt.Errorf(`"from": %v`, err)
		}
		n := measure(v, a.budget)
		if n > a.budget {
			return fmt.Errorf("copying would exceed the limit on data duplicated by one patch (about %d KiB)", copyLimit>>10)
		}
		a.budget -= n
		return a.add(path, deepCopy(v))
	case "test":
		v, err := a.get(path)
		if err != nil {
			return err
		}
		if !equal(v, op.Value) {
			return errors.New("test failed: the value at the path is not equal to the given value")
		}
		return nil
	}
	return fmt.Errorf("unknown op %q", op.Op) // unreachable: checkOp rejects it
}

// get returns the value the pointer tokens refer to.
func (a *applier) get(tokens []string) (any, error) {
	node := a.doc
	for i, tok := range tokens {
		child, err := child(node, tok, tokens[:i])
		if err != nil {
			return nil, err
		}
		node = child
	}
	return node, nil
}

// child returns the member or element tok of node, which is at location at.
func child(node any, tok string, at []string) (any, error) {
	switch n := node.(type) {
	case map[string]any:
		v, ok := n[tok]
		if !ok {
			return nil, fmt.Errorf("no member %s in the object at %s", quoteShort(tok), location(at))
		}
		return v, nil
	case []any:
		i, err := arrayIndex(tok, len(n), false)
		if err != nil {
			return nil, fmt.Errorf("%v, in the array at %s", err, location(at))
		}
		return n[i], nil
	default:
		return nil, fmt.Errorf("cannot look up %s in %s at %s", quoteShort(tok), kindOf(node), location(at))
	}
}

// editFunc changes the container parent (at location at) at the reference
// token key and returns the updated container (a slice may be reallocated).
type editFunc func(parent any, key string, at []string) (any, error)

// edit finds the parent of the location tokens (which must not be the root)
// and replaces it with what fn returns.
func (a *applier) edit(tokens []string, fn editFunc) error {
	doc, err := editAt(a.doc, tokens, 0, fn)
	if err != nil {
		return err
	}
	a.doc = doc
	return nil
}

func editAt(node any, tokens []string, depth int, fn editFunc) (any, error) {
	if depth == len(tokens)-1 {
		return fn(node, tokens[depth], tokens[:depth])
	}
	c, err := child(node, tokens[depth], tokens[:depth])
	if err != nil {
		return nil, err
	}
	c, err = editAt(c, tokens, depth+1, fn)
	if err != nil {
		return nil, err
	}
	switch n := node.(type) {
	case map[string]any:
		n[tokens[depth]] = c
	case []any:
		i, _ := arrayIndex(tokens[depth], len(n), false) // validated by child
		n[i] = c
	}
	return node, nil
}

// add implements "add": set an object member, insert into an array, or
// replace the whole document.
func (a *applier) add(tokens []string, v any) error {
	if len(tokens) == 0 {
		a.doc = v
		return nil
	}
	return a.edit(tokens, func(parent any, key string, at []string) (any, error) {
		switch p := parent.(type) {
		case map[string]any:
			p[key] = v
			return p, nil
		case []any:
			i, err := arrayIndex(key, len(p), true)
			if err != nil {
				return nil, fmt.Errorf("%v, in the array at %s", err, location(at))
			}
			p = append(p, nil)
			copy(p[i+1:], p[i:])
			p[i] = v
			return p, nil
		default:
			return nil, fmt.Errorf("cannot add to %s at %s", kindOf(parent), location(at))
		}
	})
}

// remove implements "remove" and returns the removed value.
func (a *applier) remove(tokens []string) (any, error) {
	if len(tokens) == 0 {
		return nil, errors.New("cannot remove the whole document")
	}
	var removed any
	err := a.edit(tokens, func(parent any, key string, at []string) (any, error) {
		v, err := child(parent, key, at)
		if err != nil {
			return nil, err
		}
		removed = v
		switch p := parent.(type) {
		case map[string]any:
			delete(p, key)
			return p, nil
		case []any:
			i, _ := arrayIndex(key, len(p), false) // validated by child
			copy(p[i:], p[i+1:])
			p[len(p)-1] = nil // drop the stale reference
			return p[:len(p)-1], nil
		}
		return parent, nil // unreachable: child accepts only containers
	})
	return removed, err
}

// replace implements "replace": the target must exist.
func (a *applier) replace(tokens []string, v any) error {
	if len(tokens) == 0 {
		a.doc = v
		return nil
	}
	return a.edit(tokens, func(parent any, key string, at []string) (any, error) {
		if _, err := child(parent, key, at); err != nil {
			return nil, err
		}
		switch p := parent.(type) {
		case map[string]any:
			p[key] = v
		case []any:
			i, _ := arrayIndex(key, len(p), false) // validated by child
			p[i] = v
		}
		return parent, nil
	})
}
