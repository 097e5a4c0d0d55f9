-- 003: revocations of everything minted from one authorization code, keyed by the code's
-- family_id, whether or not a refresh family exists for it: a client without the refresh grant
-- never gets one, and a replay can beat the first exchange to it. Access tokens carry the
-- family_id, so /validate, /introspect, /forward-auth and the revocation list check this table
-- alongside refresh_families. A row lives until nothing minted from the code can be valid.
CREATE TABLE revoked_grants (
  family_id TEXT NOT NULL PRIMARY KEY,
  reason TEXT NOT NULL DEFAULT '',
  revoked_at BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX revoked_grants_revoked_idx ON revoked_grants (revoked_at);
CREATE INDEX revoked_grants_expires_idx ON revoked_grants (expires_at);
