package fhir

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// InstantFormat is how the server writes an instant (meta.lastUpdated and
// the like): UTC, milliseconds.
const InstantFormat = "2006-01-02T15:04:05.000Z"

// VersionMark and UpdatedMark stand in for meta.versionId and
// meta.lastUpdated in a body serialised before the store knows them. They
// are random per process and never leave it, so no stored or received
// content can contain them.
var VersionMark, UpdatedMark = newMark("v"), newMark("t")

func newMark(kind string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "spine-mark-" + kind + "-" + hex.EncodeToString(b[:])
}

// MetaTemplate is a serialised resource whose version and update time are
// filled in later by plain concatenation. The store's single writer calls
// Fill, so the costly serialisation stays outside its serial section.
type MetaTemplate struct {
	parts        [3][]byte
	versionFirst bool
}

// NewMetaTemplate splits body, which carries VersionMark and UpdatedMark
// once each, around the two marks.
func NewMetaTemplate(body []byte) (*MetaTemplate, error) {
	v, t := bytes.Index(body, []byte(VersionMark)), bytes.Index(body, []byte(UpdatedMark))
	if v < 0 || t < 0 || bytes.Count(body, []byte(VersionMark)) != 1 || bytes.Count(body, []byte(UpdatedMark)) != 1 {
		return nil, fmt.Errorf("meta template: the body must carry each mark exactly once")
	}
	tpl := &MetaTemplate{versionFirst: v < t}
	first, firstLen, second, secondLen := v, len(VersionMark), t, len(UpdatedMark)
	if !tpl.versionFirst {
		first, firstLen, second, secondLen = t, len(UpdatedMark), v, len(VersionMark)
	}
	tpl.parts = [3][]byte{body[:first], body[first+firstLen : second], body[second+secondLen:]}
	return tpl, nil
}

// Fill returns the body with the version and time in place of the marks.
func (t *MetaTemplate) Fill(version int64, updated time.Time) []byte {
	var vb, tb [32]byte
	vs := strconv.AppendInt(vb[:0], version, 10)
	ts := updated.UTC().AppendFormat(tb[:0], InstantFormat)
	a, b := vs, ts
	if !t.versionFirst {
		a, b = ts, vs
	}
	out := make([]byte, 0, len(t.parts[0])+len(t.parts[1])+len(t.parts[2])+len(vs)+len(ts))
	out = append(append(append(out, t.parts[0]...), a...), t.parts[1]...)
	return append(append(out, b...), t.parts[2]...)
}
