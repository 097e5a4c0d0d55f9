#pragma once
// Storage interface. Two backends implement it (SQLite, PostgreSQL) and both pass one conformance
// suite (tests/conformance). Stores know nothing about HTTP or OAuth wire formats.
//
// Security invariant: nothing stored here is a usable credential on its own. Codes, refresh tokens,
// login states and client secrets are stored as SHA-256 hex hashes; private keys and upstream data
// arrive already sealed with the master keyring.
// All times are Unix seconds. A value of 0 means "not set".

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/result.h"

namespace broker::metrics {
struct BrokerMetrics;
}

namespace broker::store {

struct ClientRecord {
  std::string client_id;
  std::string secret_hash;                 // sha256 hex; empty for public clients
  std::string token_endpoint_auth_method;  // none | client_secret_basic | client_secret_post
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;
  std::string client_name;
  std::string metadata_json;   // the registered metadata as echoed by /register (no secret)
  bool preregistered = false;  // created by the `client` CLI; never expires
  int64_t created_at = 0;
  int64_t last_used_at = 0;
};

// The broker's state between /authorize (after consent) and the upstream callback.
struct PendingLogin {
  std::string state_hash;  // sha256 hex of the `state` sent to the upstream
  std::string upstream_id;
  std::string client_id;
  std::string redirect_uri;
  std::string client_state;  // the client's own `state`, echoed back
  std::string code_challenge;
  std::string scope;          // space-separated, requested (before policy)
  std::string resource;       // canonical RFC 8707 resource, may be empty
  std::string upstream_data;  // sealed by the caller (PKCE verifier, nonce, ...)
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct AuthCode {
  std::string code_hash;
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;
  std::string subject;        // qualified: "<upstream>:<id>"
  std::string identity_json;  // broker::Identity::toJson()
  std::string scope;          // granted, space-separated
  std::string resource;
  std::string family_id;  // the refresh family this code mints (revoked if the code is replayed)
  std::string upstream_data;  // sealed; moves onto the family at exchange
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t consumed_at = 0;
};

struct CodeConsumption {
  enum class Kind { kConsumed, kReplayed };
  Kind kind = Kind::kConsumed;
  AuthCode code;  // the row as it was before this call (consumed_at set when replayed)
};

// A refresh-token family: every token descending from one authorization code.
struct Family {
  std::string family_id;
  std::string client_id;
  std::string subject;
  std::string upstream_data;  // sealed upstream session (for re-checking membership on refresh)
  int64_t created_at = 0;
  int64_t expires_at = 0;  // absolute lifetime (tokens.refresh_ttl)
  int64_t revoked_at = 0;
  std::string revoke_reason;
};

struct RefreshToken {
  std::string token_hash;
  std::string family_id;
  std::string client_id;
  std::string subject;
  std::string identity_json;
  std::string scope;
  std::string resource;
  int64_t created_at = 0;
  int64_t expires_at = 0;  // min(family absolute expiry, created_at + idle ttl)
  int64_t rotated_at = 0;  // set when a successor was issued
  std::string successor_hash;
};

struct TokenAndFamily {
  RefreshToken token;
  Family family;
};

struct RotateOutcome {
  enum class Kind {
    kRotated,         // this call rotated the token; `successor` was stored
    kAlreadyRotated,  // the token had been rotated before; see old.rotated_at / successor_used
  };
  Kind kind = Kind::kRotated;
  RefreshToken old;             // the presented token's row (as it was before this call)
  bool successor_used = false;  // kAlreadyRotated: the successor itself has been rotated
};

struct SigningKeyRecord {
  std::string kid;
  std::string alg = "RS256";
  std::string sealed_private_key;  // PEM sealed with the master keyring
  std::string public_jwk;          // JSON object
  int64_t generation = 0;          // unique; the rotation race is decided on it
  int64_t created_at = 0;
  int64_t activates_at = 0;  // signs from this time on (published before)
  int64_t retires_at = 0;    // stops signing (0 = still current)
  int64_t expires_at = 0;    // leaves the JWKS (0 = not yet known)
};

// One security event in the audit table. Nothing here is a credential: subjects, client ids,
// family ids and key ids only.
struct AuditEvent {
  std::string event_id;  // 16 hex digits of Unix microseconds, then random hex (see AuditLog)
  int64_t at = 0;
  std::string event;  // login_succeeded, login_denied, code_reuse, refresh_reuse, ...
  // Who caused it: "user:<subject>", "client:<client_id>", "admin" (the command line) or
  // "broker" (reuse detection, automatic rotation, a policy file change).
  std::string actor;
  std::string client_id;
  std::string subject;        // qualified "<upstream>:<id>"
  std::string upstream;       // upstream id
  std::string servers;        // space-separated MCP server scopes
  std::string rule;           // the policy rule that decided (denials)
  std::string detail = "{}";  // JSON object: whatever else the event carries
};

struct AuditQuery {
  std::string subject;    // exact; empty = any
  std::string client_id;  // exact; empty = any
  std::string server;     // one scope the event names; empty = any
  int64_t since = 0;      // at >= since
  int64_t limit = 1000;   // the newest `limit` events, returned oldest first
};

// A live refresh family: who holds access to what, through which client, since when.
struct SessionInfo {
  std::string family_id;
  std::string client_id;
  std::string client_name;
  std::string subject;
  std::string scope;          // of the current (unrotated) refresh token
  std::string identity_json;  // as last seen (sign-in or last refresh)
  int64_t created_at = 0;     // the sign-in
  int64_t last_used_at = 0;   // the last refresh (the sign-in when never refreshed)
  int64_t expires_at = 0;     // the current token's expiry
};

struct SessionQuery {
  int64_t now = 0;
  std::string subject;    // exact; empty = any
  std::string client_id;  // exact; empty = any
  std::string server;     // one scope the session holds; empty = any
};

struct GcStats {
  int64_t pending_logins = 0;
  int64_t codes = 0;
  int64_t refresh_tokens = 0;
  int64_t families = 0;
  int64_t clients = 0;
  int64_t revoked_jtis = 0;
  int64_t revoked_grants = 0;
  int64_t signing_keys = 0;
  int64_t audit_events = 0;
};

struct GcPolicy {
  int64_t now = 0;
  int64_t client_idle_ttl = 0;  // dynamic clients unused this long are deleted (0 = never)
  int64_t audit_retention = 0;  // audit events older than this are deleted (0 = never)
};

struct RevokedGrants {
  std::vector<std::string> jtis;
  std::vector<std::string> families;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual std::string backendName() const = 0;  // "sqlite" | "postgresql"
  virtual Status ping() = 0;

  // Clients (RFC 7591 and the `client` CLI).
  virtual Status createClient(const ClientRecord& c) = 0;  // kAlreadyExists on duplicate id
  virtual Result<ClientRecord> getClient(const std::string& client_id) = 0;  // kNotFound
  virtual Result<std::vector<ClientRecord>> listClients() = 0;
  virtual Status deleteClient(const std::string& client_id) = 0;  // kNotFound
  virtual Status touchClient(const std::string& client_id, int64_t now) = 0;

  // Pending upstream logins. consume deletes and returns the row atomically: exactly one caller
  // wins; kNotFound when missing or expired.
  virtual Status createPendingLogin(const PendingLogin& p) = 0;
  virtual Result<PendingLogin> consumePendingLogin(const std::string& state_hash, int64_t now) = 0;
  // Reads without consuming (the dev login page shows itself for a live login only).
  virtual Result<PendingLogin> getPendingLogin(const std::string& state_hash, int64_t now) = 0;

  // Authorization codes. consume marks the code used atomically: of two concurrent callers exactly
  // one gets kConsumed, the other kReplayed; kNotFound for an unknown hash. Expiry is checked by
  // the caller from the returned row.
  virtual Status createAuthCode(const AuthCode& c) = 0;
  virtual Result<CodeConsumption> consumeAuthCode(const std::string& code_hash, int64_t now) = 0;

  // Refresh families and tokens. createFamily fails with kConflict when the grant `f.family_id`
  // was revoked (revokeGrant) before it: a replayed code beat the first exchange.
  virtual Status createFamily(const Family& f, const RefreshToken& first) = 0;
  virtual Result<Family> getFamily(const std::string& family_id) = 0;
  virtual Status updateFamilyUpstreamData(const std::string& family_id,
                                          const std::string& data) = 0;
  virtual Result<RefreshToken> getRefreshToken(const std::string& token_hash) = 0;
  // The token and its family in one round trip (the refresh grant's first read); kNotFound.
  virtual Result<TokenAndFamily> getRefreshTokenAndFamily(const std::string& token_hash) = 0;
  // Atomically: if `old_hash` has not been rotated and neither its family nor its grant is
  // revoked, mark it rotated
  // at `now` and insert `successor`. Otherwise report kAlreadyRotated (no write). kNotFound for an
  // unknown hash; kConflict when the family is revoked.
  virtual Result<RotateOutcome> rotateRefreshToken(const std::string& old_hash,
                                                   const RefreshToken& successor, int64_t now) = 0;
  virtual Status revokeFamily(const std::string& family_id, const std::string& reason,
                              int64_t now) = 0;  // idempotent; kNotFound for unknown id
  virtual Result<int64_t> revokeFamiliesBySubject(const std::string& subject, int64_t now) = 0;
  virtual Result<int64_t> revokeFamiliesByClient(const std::string& client_id, int64_t now) = 0;
  // Revokes everything minted from one authorization code, keyed by the code's family_id, whether
  // or not its refresh family exists (a client without the refresh grant has none; a replay may
  // come before the first exchange creates it): the family if there is one, every access token
  // carrying the id, and any family created with it later. Kept until `expires_at`, which must
  // be past the last expiry of anything minted from the code. Idempotent: the first reason stays.
  virtual Status revokeGrant(const std::string& family_id, const std::string& reason, int64_t now,
                             int64_t expires_at) = 0;

  // Revoked access tokens (by jti) until they expire.
  virtual Status revokeAccessToken(const std::string& jti, int64_t expires_at) = 0;
  virtual Result<bool> isAccessTokenRevoked(const std::string& jti) = 0;
  // One lookup for the hot path of /validate and /introspect: true when the jti is revoked or
  // the refresh family or grant it was minted from (may be empty) is revoked. An unknown family
  // is not revoked (it was collected after it expired).
  virtual Result<bool> isAccessGrantRevoked(const std::string& jti,
                                            const std::string& family_id) = 0;

  // What an in-memory revocation list holds (see RevocationList): the revoked jtis that have not
  // expired at `now`, and the families and grants (both by family_id) revoked at or after
  // `since`.
  virtual Result<RevokedGrants> listRevokedGrants(int64_t since, int64_t now) = 0;

  // Signing keys. insert fails with kAlreadyExists when the generation or kid is taken, so two
  // instances rotating at once produce one new key.
  virtual Result<std::vector<SigningKeyRecord>> listSigningKeys() = 0;  // by generation ascending
  virtual Status insertSigningKey(const SigningKeyRecord& k) = 0;
  virtual Status updateSigningKeyTimes(const std::string& kid, int64_t retires_at,
                                       int64_t expires_at) = 0;

  // Audit trail. append writes a batch in one transaction; kAlreadyExists when an event_id is
  // taken (nothing of the batch is written).
  virtual Status appendAudit(const std::vector<AuditEvent>& events) = 0;
  virtual Result<std::vector<AuditEvent>> listAudit(const AuditQuery& query) = 0;

  // Live sessions: refresh families neither revoked (as a family or as a grant) nor expired at
  // `query.now`, with their current token, oldest first.
  virtual Result<std::vector<SessionInfo>> listSessions(const SessionQuery& query) = 0;
  // Revokes every live family (reason "admin_revoked"); returns how many.
  virtual Result<int64_t> revokeAllFamilies(int64_t now) = 0;

  // Deletes expired rows. Safe to run from several instances at once.
  virtual Result<GcStats> collectGarbage(const GcPolicy& policy) = 0;
};

struct StoreOptions {
  int pool_size = 4;  // connections (PostgreSQL) / readers (SQLite)
  // The time limit of each database call (storage_timeout): the PostgreSQL statement_timeout,
  // the wait for a pooled connection, and the SQLite busy timeout. A call past it fails with
  // kUnavailable, so a slow or vanished database turns into quick refusals, not stuck threads.
  // Migrations are not limited.
  int timeout_ms = 2000;
  bool run_migrations = true;
  // Times every statement and counts failures (broker_store_*); nullptr = not measured.
  metrics::BrokerMetrics* metrics = nullptr;
};

// Opens "sqlite:PATH" (or "sqlite::memory:") or a "postgresql://" / "postgres://" URL, and applies
// pending migrations (once, even when several instances start together). Throws std::runtime_error
// with a clear message when the database cannot be opened or migrated (start-up only).
std::unique_ptr<Store> openStore(const std::string& url, const StoreOptions& options = {});

// Applies migrations and returns the list of versions applied now (empty if up to date).
std::vector<std::string> migrateStore(const std::string& url);

}  // namespace broker::store
