package store

import "strings"

// schemaVersion is stored in the meta table; a mismatch refuses to start.
const schemaVersion = "1"

// The schema, written once for both databases: {{pk}} is the
// auto-assigned integer key, {{text}} a byte-ordered text column (so that
// prefix range scans work), {{blob}} the body column.
//
//	resources  one row per resource: its current version and body (reads)
//	versions   one row per version, current included (vread, history, paging);
//	           a current version's body is in resources only (keepVersionBody)
//	sp_*       search index rows of current versions, keyed by resources.rid
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
CREATE TABLE IF NOT EXISTS sp_string (rid BIGINT NOT NULL, type {{text}} NOT NULL, param {{text}} NOT NULL, norm {{text}} NOT NULL, exact {{text}} NOT NULL);
CREATE INDEX IF NOT EXISTS sp_string_value ON sp_string (type, param, norm, rid);
DROP INDEX IF EXISTS sp_string_rid;
CREATE INDEX IF NOT EXISTS sp_string_rid_value ON sp_string (rid, param, norm);
CREATE TABLE IF NOT EXISTS sp_token (rid BIGINT NOT NULL, type {{text}} NOT NULL, param {{text}} NOT NULL, system {{text}} NOT NULL, code {{text}} NOT NULL);
CREATE INDEX IF NOT EXISTS sp_token_value ON sp_token (type, param, code, system, rid);
DROP INDEX IF EXISTS sp_token_rid;
CREATE INDEX IF NOT EXISTS sp_token_rid_value ON sp_token (rid, param, code);
CREATE TABLE IF NOT EXISTS sp_date (rid BIGINT NOT NULL, type {{text}} NOT NULL, param {{text}} NOT NULL, lo BIGINT NOT NULL, hi BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS sp_date_lo ON sp_date (type, param, lo, hi, rid);
DROP INDEX IF EXISTS sp_date_rid;
CREATE INDEX IF NOT EXISTS sp_date_rid_value ON sp_date (rid, param, lo, hi);
CREATE TABLE IF NOT EXISTS sp_number (rid BIGINT NOT NULL, type {{text}} NOT NULL, param {{text}} NOT NULL, num DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS sp_number_value ON sp_number (type, param, num, rid);
CREATE INDEX IF NOT EXISTS sp_number_rid ON sp_number (rid);
CREATE TABLE IF NOT EXISTS sp_ref (rid BIGINT NOT NULL, type {{text}} NOT NULL, param {{text}} NOT NULL, ref_type {{text}} NOT NULL, ref_id {{text}} NOT NULL);
CREATE INDEX IF NOT EXISTS sp_ref_value ON sp_ref (type, param, ref_id, ref_type, rid);
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
