-- 001: initial schema. Portable across SQLite and PostgreSQL: TEXT, BIGINT, INTEGER only.
-- Times are Unix seconds; 0 means "not set". Hashes are SHA-256 hex. Lists are JSON arrays.
-- Rows that belong to a client go with it (ON DELETE CASCADE), so deleting a client or collecting
-- an idle one leaves no codes, logins or refresh families behind.

CREATE TABLE clients (
  client_id TEXT NOT NULL PRIMARY KEY,
  secret_hash TEXT NOT NULL DEFAULT '',
  token_endpoint_auth_method TEXT NOT NULL,
  redirect_uris TEXT NOT NULL DEFAULT '[]',
  grant_types TEXT NOT NULL DEFAULT '[]',
  client_name TEXT NOT NULL DEFAULT '',
  metadata_json TEXT NOT NULL DEFAULT '{}',
  preregistered INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL DEFAULT 0,
  last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX clients_idle_idx ON clients (preregistered, last_used_at);

CREATE TABLE pending_logins (
  state_hash TEXT NOT NULL PRIMARY KEY,
  upstream_id TEXT NOT NULL,
  client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
  redirect_uri TEXT NOT NULL,
  client_state TEXT NOT NULL DEFAULT '',
  code_challenge TEXT NOT NULL DEFAULT '',
  scope TEXT NOT NULL DEFAULT '',
  resource TEXT NOT NULL DEFAULT '',
  upstream_data TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pending_logins_expires_idx ON pending_logins (expires_at);
CREATE INDEX pending_logins_client_idx ON pending_logins (client_id);

-- family_id names the family the code will mint; that family does not exist before the exchange,
-- so it carries no foreign key.
CREATE TABLE auth_codes (
  code_hash TEXT NOT NULL PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL,
  identity_json TEXT NOT NULL DEFAULT '{}',
  scope TEXT NOT NULL DEFAULT '',
  resource TEXT NOT NULL DEFAULT '',
  family_id TEXT NOT NULL DEFAULT '',
  upstream_data TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  consumed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX auth_codes_expires_idx ON auth_codes (expires_at);
CREATE INDEX auth_codes_client_idx ON auth_codes (client_id);
CREATE INDEX auth_codes_subject_idx ON auth_codes (subject);

CREATE TABLE refresh_families (
  family_id TEXT NOT NULL PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  upstream_data TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT NOT NULL DEFAULT 0,
  revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refresh_families_expires_idx ON refresh_families (expires_at);
CREATE INDEX refresh_families_client_idx ON refresh_families (client_id);
CREATE INDEX refresh_families_subject_idx ON refresh_families (subject);

CREATE TABLE refresh_tokens (
  token_hash TEXT NOT NULL PRIMARY KEY,
  family_id TEXT NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  identity_json TEXT NOT NULL DEFAULT '{}',
  scope TEXT NOT NULL DEFAULT '',
  resource TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  rotated_at BIGINT NOT NULL DEFAULT 0,
  successor_hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE revoked_jtis (
  jti TEXT NOT NULL PRIMARY KEY,
  expires_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX revoked_jtis_expires_idx ON revoked_jtis (expires_at);

-- generation is UNIQUE: two instances rotating at once both try generation N+1 and one loses.
CREATE TABLE signing_keys (
  kid TEXT NOT NULL PRIMARY KEY,
  alg TEXT NOT NULL,
  sealed_private_key TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  generation BIGINT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL DEFAULT 0,
  activates_at BIGINT NOT NULL DEFAULT 0,
  retires_at BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX signing_keys_expires_idx ON signing_keys (expires_at);
