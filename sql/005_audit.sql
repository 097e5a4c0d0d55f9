-- 005: the audit trail. One row per security event (sign-in, denial and the rule that decided it,
-- code and refresh-token reuse, revocation, client registration and deletion, key rotation,
-- policy reload), kept for audit.retention. No foreign keys: an event outlives the client, family
-- or key it names. event_id starts with the time in microseconds (16 hex digits), so it sorts in
-- the order events happened on one instance. servers is space-separated, as scopes are.
CREATE TABLE audit (
  event_id TEXT NOT NULL PRIMARY KEY,
  at BIGINT NOT NULL,
  event TEXT NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  client_id TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  upstream TEXT NOT NULL DEFAULT '',
  servers TEXT NOT NULL DEFAULT '',
  rule TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at_idx ON audit (at);
CREATE INDEX audit_subject_idx ON audit (subject, at);
CREATE INDEX audit_client_idx ON audit (client_id, at);
