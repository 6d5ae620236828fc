package store

import "strings"

// schemaVersion is stored in the meta table; a mismatch refuses to start.
const schemaVersion = "2"

// Schema versions: 1 keyed index rows by (type, param) text; 2 by one
// integer pid = ParamKey(type, param), which makes every index row and key
// 15-20 bytes narrower (index builds of a million patients ~30 % faster).
// Opening a version 1 database rewrites its index rows under their keys in
// one transaction (migrateIndexRows).

// The schema, written once for both databases: {{pk}} is the
// auto-assigned integer key, {{text}} a byte-ordered text column (so that
// prefix range scans work), {{blob}} the body column.
//
//	resources  one row per resource: its current version and body (reads)
//	versions   one row per version, current included (vread, history, paging);
//	           a current version's body is in resources only (keepVersionBody);
//	           none for write-once internal records (Change.Unversioned)
//	sp_*       search index rows of current versions, keyed by resources.rid;
//	           pid is ParamKey(resource type, parameter name)
//	sequences  durable counters (NHS number allocation and the like)
//	audit_log  the audit trail: records at consecutive indexes with their Merkle leaf hashes
//	audit_index  search keys of audit records (patient, agent, org, action), rebuilt from the log
//	audit_checkpoints  signed checkpoints (tree size, root) of the audit log
//	claims     one-time keys with an expiry (token jti replay protection)
//	buckets    token buckets shared by every process (rate limits)
const schemaTemplate = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
  rid {{pk}},
  type {{text}} NOT NULL,
  id {{text}} NOT NULL,
  version BIGINT NOT NULL,
  ts BIGINT NOT NULL,
  deleted SMALLINT NOT NULL,
  body {{blob}} NOT NULL,
  UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resources_type_ts ON resources (type, ts);
CREATE TABLE IF NOT EXISTS versions (
  seq {{pk}},
  type {{text}} NOT NULL,
  id {{text}} NOT NULL,
  version BIGINT NOT NULL,
  ts BIGINT NOT NULL,
  deleted SMALLINT NOT NULL,
  body {{blob}} NOT NULL,
  UNIQUE (type, id, version)
);
CREATE INDEX IF NOT EXISTS versions_type_seq ON versions (type, seq);
CREATE TABLE IF NOT EXISTS sp_string (rid BIGINT NOT NULL, pid INTEGER NOT NULL, norm {{text}} NOT NULL, exact {{text}} NOT NULL);
CREATE INDEX IF NOT EXISTS sp_string_value ON sp_string (pid, norm, rid);
CREATE INDEX IF NOT EXISTS sp_string_rid_value ON sp_string (rid, pid, norm);
CREATE TABLE IF NOT EXISTS sp_token (rid BIGINT NOT NULL, pid INTEGER NOT NULL, system {{text}} NOT NULL, code {{text}} NOT NULL);
CREATE INDEX IF NOT EXISTS sp_token_value ON sp_token (pid, code, system, rid);
CREATE INDEX IF NOT EXISTS sp_token_rid_value ON sp_token (rid, pid, code);
CREATE TABLE IF NOT EXISTS sp_date (rid BIGINT NOT NULL, pid INTEGER NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS sp_date_lo ON sp_date (pid, lo, hi, rid);
CREATE INDEX IF NOT EXISTS sp_date_rid_value ON sp_date (rid, pid, lo, hi);
CREATE TABLE IF NOT EXISTS sp_number (rid BIGINT NOT NULL, pid INTEGER NOT NULL, num DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS sp_number_value ON sp_number (pid, num, rid);
CREATE INDEX IF NOT EXISTS sp_number_rid ON sp_number (rid);
CREATE TABLE IF NOT EXISTS sp_ref (rid BIGINT NOT NULL, pid INTEGER NOT NULL, ref_type {{text}} NOT NULL, ref_id {{text}} NOT NULL);
CREATE INDEX IF NOT EXISTS sp_ref_value ON sp_ref (pid, ref_id, ref_type, rid);
CREATE INDEX IF NOT EXISTS sp_ref_target ON sp_ref (ref_type, ref_id);
CREATE INDEX IF NOT EXISTS sp_ref_rid ON sp_ref (rid);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_log (idx BIGINT PRIMARY KEY, body {{blob}} NOT NULL, leaf {{blob}} NOT NULL);
CREATE TABLE IF NOT EXISTS audit_index (key {{text}} NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (key, idx)){{clustered}};
CREATE TABLE IF NOT EXISTS audit_checkpoints (seq {{pk}}, size BIGINT NOT NULL, body {{blob}} NOT NULL);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, until BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, ts BIGINT NOT NULL);
`

func schemaFor(d dialect) []string {
	r := strings.NewReplacer("{{pk}}", d.pk, "{{text}}", d.text, "{{blob}}", d.blob, "{{clustered}}", d.clustered)
	var out []string
	for _, stmt := range strings.Split(schemaTemplate, ";") {
		if s := strings.TrimSpace(stmt); s != "" {
			out = append(out, r.Replace(s))
		}
	}
	return out
}

// ParamKey is the pid of the index rows of search parameter param of
// resource type typ: 31 bits of the FNV-1a hash of "typ.param" (stored in
// 4 bytes by SQLite; an INTEGER on PostgreSQL). Deterministic, so every
// process sharing a database agrees without a registry. Two parameters of
// one type must not share a key (engine.NewService refuses them); rows of
// another type with the same key are kept apart by the resources row's
// type, which every search joins on.
// It is computed here without allocating; a test holds it equal to
// hash/fnv's New32a.
func ParamKey(typ, param string) int64 {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(typ); i++ {
		h = (h ^ uint32(typ[i])) * prime
	}
	h = (h ^ '.') * prime
	for i := 0; i < len(param); i++ {
		h = (h ^ uint32(param[i])) * prime
	}
	return int64(h & 0x7fffffff)
}
