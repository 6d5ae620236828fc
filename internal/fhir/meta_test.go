package fhir

import (
	"testing"
	"time"
)

func TestMetaTemplateFillsVersionAndTimeInEitherOrder(t *testing.T) {
	at := time.Date(2026, 11, 24, 20, 1, 2, 345678901, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		res  Resource
		want string
	}{
		{"canonical order", Resource{"resourceType": "Organization", "id": "a", "meta": map[string]any{"versionId": VersionMark, "lastUpdated": UpdatedMark, "source": "s"}, "name": "X"},
			`{"resourceType":"Organization","id":"a","meta":{"lastUpdated":"2026-11-24T19:01:02.345Z","source":"s","versionId":"12"},"name":"X"}`},
	} {
		tpl, err := NewMetaTemplate(Marshal(tc.res))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(tpl.Fill(12, at)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		// a template is reusable: a second fill does not see the first
		if got := string(tpl.Fill(3, at)); got == tc.want {
			t.Errorf("%s: the second fill repeated the first", tc.name)
		}
	}
	// version before time in the body
	tpl, err := NewMetaTemplate([]byte(`{"v":"` + VersionMark + `","t":"` + UpdatedMark + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(tpl.Fill(7, at)), `{"v":"7","t":"2026-11-24T19:01:02.345Z"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestMetaTemplateRefusesBodiesWithoutBothMarksOnce(t *testing.T) {
	for _, body := range []string{
		`{}`,
		`{"v":"` + VersionMark + `"}`,
		`{"t":"` + UpdatedMark + `"}`,
		`{"v":"` + VersionMark + `","t":"` + UpdatedMark + `","x":"` + UpdatedMark + `"}`,
	} {
		if _, err := NewMetaTemplate([]byte(body)); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
}
