-- 001: initial schema. Portable across SQLite and PostgreSQL: TEXT, BIGINT, INTEGER only.
-- Times are Unix seconds; 0 means "not set". Hashes are SHA-256 hex.
CREATE TABLE IF NOT EXISTS placeholder_init (id INTEGER PRIMARY KEY);
