package store

import (
	"sort"
	"strings"

	"github.com/openspine/openspine/internal/search"
)

// maxRune bounds a prefix range: every string starting with p sorts
// (byte-wise) between p and p+maxRune.
const maxRune = "\U0010FFFF"

var tableFor = map[search.Type]string{
	search.String: "sp_string", search.Token: "sp_token", search.Date: "sp_date",
	search.Number: "sp_number", search.Reference: "sp_ref",
}

// buildWhere turns a query into a WHERE clause over "resources r". The
// most selective-looking clause drives the query (an IN list the database
// walks by its value index); every other clause is a correlated EXISTS
// checked per candidate through the rid index, so that a wide clause (a
// date range, a boolean) is never materialised in full.
func buildWhere(d dialect, q *search.Query) (string, []any) {
	var b strings.Builder
	args := []any{q.Type}
	if len(q.Clauses) > 0 && d.noIndex != "" {
		// A clause drives: keep SQLite from walking every resource of the
		// type by the (type, ts) index instead.
		b.WriteString(d.noIndex + "r.type = ? AND r.deleted = 0")
	} else {
		b.WriteString("r.type = ? AND r.deleted = 0")
	}
	clauses := append([]search.Clause(nil), q.Clauses...)
	sort.SliceStable(clauses, func(i, j int) bool { return selectivity(clauses[i]) < selectivity(clauses[j]) })
	if len(clauses) > 0 && drives(clauses[0]) {
		// The driving clause's index rows are checked against every other
		// index clause before the resources row is read: a candidate that
		// fails them costs a look-up in the (rid, param, value) indexes,
		// not a page of the wide resources table.
		b.WriteString(" AND ")
		args = driveSQL(&b, args, q.Type, clauses[0])
		var rest []search.Clause
		for _, c := range clauses[1:] {
			if onResource(c) {
				rest = append(rest, c)
				continue
			}
			b.WriteString(" AND ")
			args = clauseSQL(&b, args, q.Type, c, "d.rid")
		}
		b.WriteString(")")
		for _, c := range rest {
			b.WriteString(" AND ")
			args = clauseSQL(&b, args, q.Type, c, "r.rid")
		}
		return b.String(), args
	}
	for _, c := range clauses {
		b.WriteString(" AND ")
		args = clauseSQL(&b, args, q.Type, c, "r.rid")
	}
	return b.String(), args
}

// onResource reports a clause on the resources row itself (_id, _lastUpdated).
func onResource(c search.Clause) bool {
	return c.Param.Name == search.ParamID || c.Param.Name == search.ParamLastUpdated
}

// drives reports whether c can drive a query: a plain condition on index rows.
func drives(c search.Clause) bool {
	return !onResource(c) && c.Modifier != "missing" && c.Modifier != "not"
}

// driveSQL opens the driving clause: the rids of its index rows (an IN
// list the database walks by the value index), left open for the other
// index clauses, which the caller adds and closes.
func driveSQL(b *strings.Builder, args []any, typ string, c search.Clause) []any {
	b.WriteString("r.rid IN (SELECT d.rid FROM " + tableFor[c.Param.Type] + " d WHERE d.pid = ? AND (")
	args = append(args, ParamKey(typ, c.Param.Name))
	args = valuesSQL(b, args, c)
	b.WriteString(")")
	return args
}

// selectivity ranks clauses: lower is expected to match fewer resources.
func selectivity(c search.Clause) int {
	switch {
	case c.Param.Name == search.ParamID:
		return 0
	case c.Modifier == "missing" || c.Modifier == "not":
		return 9
	case c.Param.Name == search.ParamLastUpdated:
		return 8
	}
	switch c.Param.Type {
	case search.Token:
		for _, v := range c.Values {
			if v.Code == "true" || v.Code == "false" || (v.HasSystem && v.Code == "") {
				return 7
			}
		}
		return 1
	case search.Reference:
		return 2
	case search.String:
		if c.Modifier == "contains" {
			return 7
		}
		return 3
	case search.Date:
		day := true
		for _, v := range c.Values {
			if v.Prefix != "eq" {
				return 6
			}
			day = day && v.Hi-v.Lo < 24*60*60*1000
		}
		if day {
			// one day (a birth date) matches far fewer than a name prefix
			return 2
		}
		return 4
	}
	return 5
}

// clauseSQL writes c as a condition on the resource of type typ whose rid
// is the expression rid.
func clauseSQL(b *strings.Builder, args []any, typ string, c search.Clause, rid string) []any {
	switch c.Param.Name {
	case search.ParamID:
		if c.Modifier == "not" {
			b.WriteString("r.id NOT IN (")
		} else {
			b.WriteString("r.id IN (")
		}
		for i, v := range c.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			args = append(args, v.Code)
		}
		b.WriteByte(')')
		return args
	case search.ParamLastUpdated:
		b.WriteByte('(')
		for i, v := range c.Values {
			if i > 0 {
				b.WriteString(" OR ")
			}
			args = dateSQL(b, args, "r.ts", "r.ts", v)
		}
		b.WriteByte(')')
		return args
	}
	table, pid := tableFor[c.Param.Type], ParamKey(typ, c.Param.Name)
	switch c.Modifier {
	case "missing":
		if c.Values[0].Missing {
			b.WriteString("NOT ")
		}
		b.WriteString("EXISTS (SELECT 1 FROM " + table + " x WHERE x.rid = " + rid + " AND x.pid = ?)")
		return append(args, pid)
	case "not":
		b.WriteString("NOT EXISTS (SELECT 1 FROM " + table + " x WHERE x.rid = " + rid + " AND x.pid = ? AND (")
		args = append(args, pid)
	default:
		b.WriteString("EXISTS (SELECT 1 FROM " + table + " x WHERE x.rid = " + rid + " AND x.pid = ? AND (")
		args = append(args, pid)
	}
	args = valuesSQL(b, args, c)
	b.WriteString("))")
	return args
}

// valuesSQL writes the clause's values, joined by OR.
func valuesSQL(b *strings.Builder, args []any, c search.Clause) []any {
	for i, v := range c.Values {
		if i > 0 {
			b.WriteString(" OR ")
		}
		args = valueSQL(b, args, c, v)
	}
	return args
}

func valueSQL(b *strings.Builder, args []any, c search.Clause, v search.Value) []any {
	switch c.Param.Type {
	case search.String:
		switch c.Modifier {
		case "exact":
			b.WriteString("exact = ?")
			return append(args, v.Str)
		case "contains":
			b.WriteString(`norm LIKE ? ESCAPE '\'`)
			return append(args, "%"+escapeLike(v.Str)+"%")
		}
		b.WriteString("(norm >= ? AND norm < ?)")
		return append(args, v.Str, v.Str+maxRune)
	case search.Token:
		switch {
		case v.HasSystem && v.Code == "":
			b.WriteString("system = ?")
			return append(args, v.System)
		case v.HasSystem:
			b.WriteString("(code = ? AND system = ?)")
			return append(args, v.Code, v.System)
		}
		b.WriteString("code = ?")
		return append(args, v.Code)
	case search.Date:
		return dateSQL(b, args, "lo", "hi", v)
	case search.Number:
		switch v.Prefix {
		case "eq":
			b.WriteString("(num >= ? AND num < ?)")
			return append(args, v.NumLo, v.NumHi)
		case "ne":
			b.WriteString("(num < ? OR num >= ?)")
			return append(args, v.NumLo, v.NumHi)
		case "gt", "sa":
			b.WriteString("num > ?")
		case "lt", "eb":
			b.WriteString("num < ?")
		case "ge":
			b.WriteString("num >= ?")
		case "le":
			b.WriteString("num <= ?")
		case "ap":
			d := v.Num * 0.1
			if d < 0 {
				d = -d
			}
			b.WriteString("(num >= ? AND num <= ?)")
			return append(args, v.Num-d, v.Num+d)
		}
		return append(args, v.Num)
	case search.Reference:
		if v.RefType != "" {
			b.WriteString("(ref_id = ? AND ref_type = ?)")
			return append(args, v.RefID, v.RefType)
		}
		b.WriteString("ref_id = ?")
		return append(args, v.RefID)
	}
	b.WriteString("1 = 0")
	return args
}

// dateSQL writes the FHIR date comparison of a stored range [lo, hi]
// against the query value's range.
func dateSQL(b *strings.Builder, args []any, lo, hi string, v search.Value) []any {
	switch v.Prefix {
	case "ne":
		b.WriteString("NOT (" + lo + " >= ? AND " + hi + " <= ?)")
		return append(args, v.Lo, v.Hi)
	case "gt":
		b.WriteString(hi + " > ?")
		return append(args, v.Hi)
	case "lt":
		b.WriteString(lo + " < ?")
		return append(args, v.Lo)
	case "ge":
		b.WriteString(hi + " >= ?")
		return append(args, v.Lo)
	case "le":
		b.WriteString(lo + " <= ?")
		return append(args, v.Hi)
	case "sa":
		b.WriteString(lo + " > ?")
		return append(args, v.Hi)
	case "eb":
		b.WriteString(hi + " < ?")
		return append(args, v.Lo)
	case "ap":
		b.WriteString("(" + lo + " <= ? AND " + hi + " >= ?)")
		return append(args, v.Hi, v.Lo)
	}
	// eq: within the value's range (lo bounded on both sides so an index range scan stays short)
	b.WriteString("(" + lo + " >= ? AND " + lo + " <= ? AND " + hi + " <= ?)")
	return append(args, v.Lo, v.Hi, v.Hi)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// buildOrder returns the ORDER BY list; rid breaks ties so paging is stable.
func buildOrder(q *search.Query) (string, []any) {
	var parts []string
	var args []any
	for _, k := range q.Sort {
		dir := " ASC"
		agg := "MIN"
		if k.Desc {
			dir, agg = " DESC", "MAX"
		}
		var expr string
		switch k.Param.Name {
		case search.ParamID:
			expr = "r.id"
		case search.ParamLastUpdated:
			expr = "r.ts"
		default:
			col := map[search.Type]string{search.String: "norm", search.Token: "code", search.Date: "lo", search.Number: "num"}[k.Param.Type]
			if k.Param.Type == search.Date && k.Desc {
				col = "hi"
			}
			expr = "(SELECT " + agg + "(" + col + ") FROM " + tableFor[k.Param.Type] + " x WHERE x.rid = r.rid AND x.pid = ?)"
			args = append(args, ParamKey(q.Type, k.Param.Name))
		}
		parts = append(parts, expr+dir+" NULLS LAST")
	}
	parts = append(parts, "r.rid ASC")
	return strings.Join(parts, ", "), args
}
