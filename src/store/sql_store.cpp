// Store operations in SQL that runs unchanged on SQLite and PostgreSQL. Races are decided by the
// database, never by a read-then-write in C++: single-use rows are claimed with
// UPDATE/DELETE ... RETURNING, and rotation runs in one write transaction.

#include "store/sql_store.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "store/row_mapping.h"

namespace broker::store {
namespace {

// Each table's columns, next to the record members they hold.
RowMapping<ClientRecord> clientsMapping() {
  using R = ClientRecord;
  return {"clients",
          {
              {"client_id", &R::client_id},
              {"secret_hash", &R::secret_hash},
              {"token_endpoint_auth_method", &R::token_endpoint_auth_method},
              {"redirect_uris", &R::redirect_uris},
              {"grant_types", &R::grant_types},
              {"client_name", &R::client_name},
              {"metadata_json", &R::metadata_json},
              {"preregistered", &R::preregistered},
              {"created_at", &R::created_at},
              {"last_used_at", &R::last_used_at},
          }};
}
const RowMapping<ClientRecord> kClients = clientsMapping();

RowMapping<PendingLogin> loginsMapping() {
  using R = PendingLogin;
  return {"pending_logins",
          {
              {"state_hash", &R::state_hash},
              {"upstream_id", &R::upstream_id},
              {"client_id", &R::client_id},
              {"redirect_uri", &R::redirect_uri},
              {"client_state", &R::client_state},
              {"code_challenge", &R::code_challenge},
              {"scope", &R::scope},
              {"resource", &R::resource},
              {"upstream_data", &R::upstream_data},
              {"created_at", &R::created_at},
              {"expires_at", &R::expires_at},
          }};
}
const RowMapping<PendingLogin> kLogins = loginsMapping();

RowMapping<AuthCode> codesMapping() {
  using R = AuthCode;
  return {"auth_codes",
          {
              {"code_hash", &R::code_hash},
              {"client_id", &R::client_id},
              {"redirect_uri", &R::redirect_uri},
              {"code_challenge", &R::code_challenge},
              {"subject", &R::subject},
              {"identity_json", &R::identity_json},
              {"scope", &R::scope},
              {"resource", &R::resource},
              {"family_id", &R::family_id},
              {"upstream_data", &R::upstream_data},
              {"created_at", &R::created_at},
              {"expires_at", &R::expires_at},
              {"consumed_at", &R::consumed_at},
          }};
}
const RowMapping<AuthCode> kCodes = codesMapping();

RowMapping<Family> familiesMapping() {
  using R = Family;
  return {"refresh_families",
          {
              {"family_id", &R::family_id},
              {"client_id", &R::client_id},
              {"subject", &R::subject},
              {"upstream_data", &R::upstream_data},
              {"created_at", &R::created_at},
              {"expires_at", &R::expires_at},
              {"revoked_at", &R::revoked_at},
              {"revoke_reason", &R::revoke_reason},
          }};
}
const RowMapping<Family> kFamilies = familiesMapping();

RowMapping<RefreshToken> tokensMapping() {
  using R = RefreshToken;
  return {"refresh_tokens",
          {
              {"token_hash", &R::token_hash},
              {"family_id", &R::family_id},
              {"client_id", &R::client_id},
              {"subject", &R::subject},
              {"identity_json", &R::identity_json},
              {"scope", &R::scope},
              {"resource", &R::resource},
              {"created_at", &R::created_at},
              {"expires_at", &R::expires_at},
              {"rotated_at", &R::rotated_at},
              {"successor_hash", &R::successor_hash},
          }};
}
const RowMapping<RefreshToken> kTokens = tokensMapping();

RowMapping<SigningKeyRecord> keysMapping() {
  using R = SigningKeyRecord;
  return {"signing_keys",
          {
              {"kid", &R::kid},
              {"alg", &R::alg},
              {"sealed_private_key", &R::sealed_private_key},
              {"public_jwk", &R::public_jwk},
              {"generation", &R::generation},
              {"created_at", &R::created_at},
              {"activates_at", &R::activates_at},
              {"retires_at", &R::retires_at},
              {"expires_at", &R::expires_at},
          }};
}
const RowMapping<SigningKeyRecord> kKeys = keysMapping();

RowMapping<AuditEvent> auditMapping() {
  using R = AuditEvent;
  return {"audit",
          {
              {"event_id", &R::event_id},
              {"at", &R::at},
              {"event", &R::event},
              {"actor", &R::actor},
              {"client_id", &R::client_id},
              {"subject", &R::subject},
              {"upstream", &R::upstream},
              {"servers", &R::servers},
              {"rule", &R::rule},
              {"detail", &R::detail},
          }};
}
const RowMapping<AuditEvent> kAudit = auditMapping();

SqlStatement reader(std::string name, std::string sql) {
  return {std::move(name), std::move(sql), false};
}
SqlStatement writer(std::string name, std::string sql) {
  return {std::move(name), std::move(sql), true};
}

const SqlStatement kPing = reader("ping", "SELECT 1");

const SqlStatement kClientInsert = writer("clients.insert", kClients.insertSql());
const SqlStatement kClientGet = reader("clients.get", kClients.selectSql("WHERE client_id = $1"));
const SqlStatement kClientList =
    reader("clients.list", kClients.selectSql("ORDER BY created_at, client_id"));
const SqlStatement kClientDelete =
    writer("clients.delete", "DELETE FROM clients WHERE client_id = $1");
const SqlStatement kClientTouch =
    writer("clients.touch", "UPDATE clients SET last_used_at = $2 WHERE client_id = $1");

const SqlStatement kLoginInsert = writer("logins.insert", kLogins.insertSql());
const SqlStatement kLoginConsume =
    writer("logins.consume", std::string("DELETE FROM pending_logins WHERE state_hash = $1 ") +
                                 "RETURNING " + kLogins.columnList());

const SqlStatement kLoginGet =
    reader("logins.get",
           kLogins.selectSql("WHERE state_hash = $1 AND (expires_at = 0 OR expires_at > $2)"));

const SqlStatement kCodeInsert = writer("codes.insert", kCodes.insertSql());
const SqlStatement kCodeConsume =
    writer("codes.consume", std::string("UPDATE auth_codes SET consumed_at = $2 ") +
                                "WHERE code_hash = $1 AND consumed_at = 0 RETURNING " +
                                kCodes.columnList());
const SqlStatement kCodeGet = reader("codes.get", kCodes.selectSql("WHERE code_hash = $1"));

// A grant revoked before its family exists refuses the family: no row is inserted.
const std::string kUnlessGrantRevoked =
    " WHERE NOT EXISTS (SELECT 1 FROM revoked_grants WHERE family_id = $1)";
const SqlStatement kFamilyInsert =
    writer("families.insert", "INSERT INTO refresh_families (" + kFamilies.columnList() +
                                  ") SELECT " + kFamilies.typedParams(1) + kUnlessGrantRevoked);
// PostgreSQL: the family and its first token in one statement; no token row when refused.
const SqlStatement kFamilyCreateWith =
    writer("families.create_with",
           "WITH family AS (INSERT INTO refresh_families (" + kFamilies.columnList() + ") SELECT " +
               kFamilies.typedParams(1) + kUnlessGrantRevoked +
               " RETURNING family_id) INSERT INTO refresh_tokens (" + kTokens.columnList() +
               ") SELECT " + kTokens.typedParams(kFamilies.size() + 1) + " FROM family");
const SqlStatement kFamilyGet = reader("families.get", kFamilies.selectSql("WHERE family_id = $1"));
const SqlStatement kFamilySetUpstream = writer(
    "families.set_upstream", "UPDATE refresh_families SET upstream_data = $2 WHERE family_id = $1");
// Keeps the first revocation's time and reason, so repeating it is harmless.
const SqlStatement kFamilyRevoke =
    writer("families.revoke",
           "UPDATE refresh_families SET "
           "revoked_at = CASE WHEN revoked_at = 0 THEN CAST($2 AS BIGINT) ELSE revoked_at END, "
           "revoke_reason = CASE WHEN revoked_at = 0 THEN CAST($3 AS TEXT) ELSE revoke_reason END "
           "WHERE family_id = $1");
const SqlStatement kFamilyRevokeBySubject =
    writer("families.revoke_by_subject",
           "UPDATE refresh_families SET revoked_at = $2, revoke_reason = $3 "
           "WHERE subject = $1 AND revoked_at = 0");
const SqlStatement kFamilyRevokeByClient =
    writer("families.revoke_by_client",
           "UPDATE refresh_families SET revoked_at = $2, revoke_reason = $3 "
           "WHERE client_id = $1 AND revoked_at = 0");

const SqlStatement kTokenInsert = writer("tokens.insert", kTokens.insertSql());
const SqlStatement kTokenGet = reader("tokens.get", kTokens.selectSql("WHERE token_hash = $1"));
const SqlStatement kTokenGetWithFamily =
    reader("tokens.get_with_family",
           "SELECT " + kTokens.columnList("t.") + ", " + kFamilies.columnList("f.") +
               " FROM refresh_tokens t JOIN refresh_families f ON f.family_id = t.family_id "
               "WHERE t.token_hash = $1");
const SqlStatement kTokenRotatedAt =
    reader("tokens.rotated_at", "SELECT rotated_at FROM refresh_tokens WHERE token_hash = $1");
// The claim: of two concurrent rotations exactly one matches rotated_at = 0, the other waits for
// its commit and then matches nothing. It also requires a family that is not revoked.
const std::string kTokenClaim =
    "UPDATE refresh_tokens SET rotated_at = $2, successor_hash = $3 "
    "WHERE token_hash = $1 AND rotated_at = 0 AND EXISTS (SELECT 1 FROM "
    "refresh_families f WHERE f.family_id = refresh_tokens.family_id AND "
    "f.revoked_at = 0) AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE "
    "g.family_id = refresh_tokens.family_id) RETURNING " +
    kTokens.columnList();
const SqlStatement kTokenRotate = writer("tokens.rotate", kTokenClaim);
// PostgreSQL: the claim and the successor ($3 onwards) in one statement; no successor unless
// the claim matched.
const SqlStatement kTokenRotateWith =
    writer("tokens.rotate_with",
           "WITH claimed AS (" + kTokenClaim + "), successor AS (INSERT INTO refresh_tokens (" +
               kTokens.columnList() + ") SELECT " + kTokens.typedParams(3) +
               " FROM claimed) SELECT " + kTokens.columnList() + " FROM claimed");

// A jti is revoked once; its expiry comes from the token and cannot change.
const SqlStatement kJtiRevoke = writer(
    "jtis.revoke",
    "INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING");
const SqlStatement kJtiGet = reader("jtis.get", "SELECT 1 FROM revoked_jtis WHERE jti = $1");
const SqlStatement kGrantRevoked = reader(
    "grants.revoked",
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM revoked_jtis WHERE jti = $1) OR EXISTS (SELECT 1 FROM "
    "refresh_families WHERE family_id = $2 AND revoked_at <> 0) OR EXISTS (SELECT 1 FROM "
    "revoked_grants WHERE family_id = $2) THEN 1 ELSE 0 END");
// A grant is revoked once; the first reason and time stay.
const SqlStatement kGrantRevoke =
    writer("grants.revoke",
           "INSERT INTO revoked_grants (family_id, reason, revoked_at, expires_at) "
           "VALUES ($1, $2, $3, $4) ON CONFLICT (family_id) DO NOTHING");

// All kinds in one round trip; the first column says which (a revoked grant counts as a family:
// access tokens name both by the same id).
const SqlStatement kRevokedGrants =
    reader("grants.revoked_list",
           "SELECT 'j', jti FROM revoked_jtis WHERE expires_at = 0 OR expires_at > $1 UNION ALL "
           "SELECT 'f', family_id FROM refresh_families WHERE revoked_at <> 0 AND revoked_at >= $2 "
           "UNION ALL SELECT 'f', family_id FROM revoked_grants WHERE revoked_at >= $2");

const SqlStatement kKeyList = reader("keys.list", kKeys.selectSql("ORDER BY generation"));
const SqlStatement kKeyInsert = writer("keys.insert", kKeys.insertSql());
const SqlStatement kKeyUpdateTimes = writer(
    "keys.update_times", "UPDATE signing_keys SET retires_at = $2, expires_at = $3 WHERE kid = $1");

// Garbage collection deletes in batches of at most $2 (kGcBatchRows) rows, each batch a statement
// that commits on its own: a collector that finds a million expired rows holds SQLite's single
// write lock (or PostgreSQL's row locks) for one batch at a time, and the requests queued behind it
// are served between batches. Two collectors at once just find less to delete. An expiry of 0 means
// "no expiry".
SqlStatement gcBatch(const char* name, const std::string& table, const std::string& key,
                     const std::string& select) {
  return writer(name,
                "DELETE FROM " + table + " WHERE " + key + " IN (SELECT " + select + " LIMIT $2)");
}
std::string expiredIn(const std::string& table, const std::string& key) {
  return key + " FROM " + table + " WHERE expires_at <> 0 AND expires_at <= $1";
}
// Filters: an empty parameter matches everything. A server matches one whole scope of the
// space-separated list (the LIKE pattern is escaped: scopes may hold '_').
const SqlStatement kAuditInsert = writer("audit.insert", kAudit.insertSql());
const SqlStatement kAuditList =
    reader("audit.list", kAudit.selectSql("WHERE at >= $1 AND (CAST($2 AS TEXT) = '' OR "
                                          "subject = $2) AND (CAST($3 AS TEXT) = '' OR "
                                          "client_id = $3) AND (' ' || servers || ' ') LIKE $4 "
                                          "ESCAPE '\\' ORDER BY at DESC, event_id DESC LIMIT $5"));
const SqlStatement kSessionList = reader(
    "sessions.list",
    "SELECT f.family_id, f.client_id, COALESCE(c.client_name, ''), f.subject, t.scope, "
    "t.identity_json, f.created_at, t.created_at, t.expires_at FROM refresh_families f "
    "JOIN refresh_tokens t ON t.family_id = f.family_id AND t.rotated_at = 0 "
    "LEFT JOIN clients c ON c.client_id = f.client_id "
    "WHERE f.revoked_at = 0 AND f.expires_at > $1 AND t.expires_at > $1 AND NOT EXISTS "
    "(SELECT 1 FROM revoked_grants g WHERE g.family_id = f.family_id) AND "
    "(CAST($2 AS TEXT) = '' OR f.subject = $2) AND (CAST($3 AS TEXT) = '' OR f.client_id = $3) "
    "AND (' ' || t.scope || ' ') LIKE $4 ESCAPE '\\' ORDER BY f.created_at, f.family_id");
const SqlStatement kFamilyRevokeAll =
    writer("families.revoke_all",
           "UPDATE refresh_families SET revoked_at = $1, revoke_reason = 'admin_revoked' "
           "WHERE revoked_at = 0 AND expires_at > $1");
const SqlStatement kGcAudit =
    gcBatch("gc.audit", "audit", "event_id", "event_id FROM audit WHERE at < $1");

const SqlStatement kGcLogins =
    gcBatch("gc.logins", "pending_logins", "state_hash", expiredIn("pending_logins", "state_hash"));
const SqlStatement kGcCodes =
    gcBatch("gc.codes", "auth_codes", "code_hash", expiredIn("auth_codes", "code_hash"));
const SqlStatement kGcTokens =
    gcBatch("gc.tokens", "refresh_tokens", "token_hash", expiredIn("refresh_tokens", "token_hash"));
// Tokens of expired families go first so they are counted; the foreign key would cascade anyway.
const SqlStatement kGcFamilyTokens =
    gcBatch("gc.family_tokens", "refresh_tokens", "token_hash",
            "t.token_hash FROM refresh_tokens t JOIN refresh_families f ON f.family_id = "
            "t.family_id WHERE f.expires_at <> 0 AND f.expires_at <= $1");
const SqlStatement kGcFamilies = gcBatch("gc.families", "refresh_families", "family_id",
                                         expiredIn("refresh_families", "family_id"));
const SqlStatement kGcJtis =
    gcBatch("gc.jtis", "revoked_jtis", "jti", expiredIn("revoked_jtis", "jti"));
const SqlStatement kGcGrants =
    gcBatch("gc.grants", "revoked_grants", "family_id", expiredIn("revoked_grants", "family_id"));
// last_used_at is 0 until first use, and never before created_at once set, so requiring both to
// be older than the cutoff means "idle since the later of the two".
const SqlStatement kGcClients =
    gcBatch("gc.clients", "clients", "client_id",
            "client_id FROM clients WHERE preregistered = 0 AND last_used_at < $1 AND "
            "created_at < $1");
const SqlStatement kGcKeys = gcBatch("gc.keys", "signing_keys", "kid",
                                     "kid FROM signing_keys WHERE expires_at <> 0 AND "
                                     "expires_at < $1");

// "% <scope> %" with LIKE's own characters escaped, or "%" for any.
std::string scopePattern(const std::string& scope) {
  if (scope.empty()) return "%";
  std::string out = "% ";
  for (char c : scope) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + " %";
}
constexpr std::chrono::seconds kGcMaxRest{1};

// A "happened at" mark must differ from 0 ("not yet"), whatever clock the caller has.
int64_t stamp(int64_t now) {
  return now > 0 ? now : 1;
}

Status done(const Result<SqlResult>& r) {
  return r.ok() ? Status() : Status(r.error());
}

// For UPDATE / DELETE by primary key: no row changed means no such row.
Status changedOne(const Result<SqlResult>& r, const char* missing) {
  if (!r.ok()) return r.error();
  if (r->affected == 0) return Error::notFound(missing);
  return {};
}

template <class R>
Result<R> firstRow(const RowMapping<R>& mapping, const Result<SqlResult>& r, const char* missing) {
  if (!r.ok()) return r.error();
  if (r->rows.empty()) return Error::notFound(missing);
  return mapping.decode(r->rows.front());
}

template <class R>
Result<std::vector<R>> allRows(const RowMapping<R>& mapping, const Result<SqlResult>& r) {
  if (!r.ok()) return r.error();
  std::vector<R> out;
  out.reserve(r->rows.size());
  for (const auto& row : r->rows) out.push_back(mapping.decode(row));
  return out;
}

SqlParams concat(SqlParams a, const SqlParams& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A family insert that inserted nothing was refused: its grant had been revoked.
Status insertedUnlessRevoked(const Result<SqlResult>& r) {
  if (!r.ok()) return r.error();
  if (r->affected == 0) return Error::conflict("the grant was revoked");
  return {};
}

RotateOutcome rotated(const SqlRow& claimed_row) {
  RotateOutcome outcome;
  outcome.kind = RotateOutcome::Kind::kRotated;
  outcome.old = kTokens.decode(claimed_row);
  outcome.old.rotated_at = 0;  // as it was before this call
  outcome.old.successor_hash.clear();
  return outcome;
}

// The claim matched nothing: the token was rotated before (kAlreadyRotated, with whether its
// successor was rotated too), or its family or grant is revoked (kConflict). `db` is the
// database or, inside a transaction, its session.
template <class Db>
Result<RotateOutcome> unclaimed(Db& db, const std::string& old_hash) {
  auto current = firstRow(kTokens, db.run(kTokenGet, {old_hash}), "refresh token not found");
  if (!current.ok()) return current.error();
  if (current->rotated_at == 0) return Error::conflict("refresh family revoked");
  RotateOutcome outcome;
  outcome.kind = RotateOutcome::Kind::kAlreadyRotated;
  outcome.old = std::move(current.value());
  auto next = db.run(kTokenRotatedAt, {outcome.old.successor_hash});
  if (!next.ok()) return next.error();
  outcome.successor_used = !next->rows.empty() && next->rows.front().integer(0) != 0;
  return outcome;
}

}  // namespace

SqlStore::SqlStore(std::unique_ptr<SqlDatabase> db) : db_(std::move(db)) {}

std::string SqlStore::backendName() const {
  return db_->backendName();
}

Status SqlStore::ping() {
  return done(db_->run(kPing, {}));
}

Status SqlStore::createClient(const ClientRecord& c) {
  return done(db_->run(kClientInsert, kClients.params(c)));
}

Result<ClientRecord> SqlStore::getClient(const std::string& client_id) {
  return firstRow(kClients, db_->run(kClientGet, {client_id}), "client not found");
}

Result<std::vector<ClientRecord>> SqlStore::listClients() {
  return allRows(kClients, db_->run(kClientList, {}));
}

Status SqlStore::deleteClient(const std::string& client_id) {
  return changedOne(db_->run(kClientDelete, {client_id}), "client not found");
}

Status SqlStore::touchClient(const std::string& client_id, int64_t now) {
  return changedOne(db_->run(kClientTouch, {client_id, now}), "client not found");
}

Status SqlStore::createPendingLogin(const PendingLogin& p) {
  return done(db_->run(kLoginInsert, kLogins.params(p)));
}

Result<PendingLogin> SqlStore::consumePendingLogin(const std::string& state_hash, int64_t now) {
  // An expired login is deleted too: it can never be used, and nobody else may claim it.
  auto login = firstRow(kLogins, db_->run(kLoginConsume, {state_hash}), "pending login not found");
  if (login.ok() && login->expires_at != 0 && login->expires_at <= now) {
    return Error::notFound("pending login expired");
  }
  return login;
}

Result<PendingLogin> SqlStore::getPendingLogin(const std::string& state_hash, int64_t now) {
  return firstRow(kLogins, db_->run(kLoginGet, {state_hash, now}), "pending login not found");
}

Status SqlStore::createAuthCode(const AuthCode& c) {
  return done(db_->run(kCodeInsert, kCodes.params(c)));
}

Result<CodeConsumption> SqlStore::consumeAuthCode(const std::string& code_hash, int64_t now) {
  auto claimed = db_->run(kCodeConsume, {code_hash, stamp(now)});
  if (!claimed.ok()) return claimed.error();
  CodeConsumption out;
  if (!claimed->rows.empty()) {
    out.kind = CodeConsumption::Kind::kConsumed;
    out.code = kCodes.decode(claimed->rows.front());
    out.code.consumed_at = 0;  // as it was before this call
    return out;
  }
  auto existing = firstRow(kCodes, db_->run(kCodeGet, {code_hash}), "code not found");
  if (!existing.ok()) return existing.error();
  out.kind = CodeConsumption::Kind::kReplayed;
  out.code = std::move(existing.value());
  return out;
}

// A grant revoked before its family exists refuses the family. Should the revocation commit
// after this check but before this commit (PostgreSQL), the family is still born dead: every
// reader (rotation, grants.revoked, the revocation list) checks revoked_grants too, and the row
// outlives the family.
Status SqlStore::createFamily(const Family& f, const RefreshToken& first) {
  if (db_->writesInWith()) {
    return insertedUnlessRevoked(
        db_->run(kFamilyCreateWith, concat(kFamilies.params(f), kTokens.params(first))));
  }
  return db_->transact([&](SqlSession& s) -> Status {
    if (auto st = insertedUnlessRevoked(s.run(kFamilyInsert, kFamilies.params(f))); !st.ok()) {
      return st;
    }
    return done(s.run(kTokenInsert, kTokens.params(first)));
  });
}

Result<Family> SqlStore::getFamily(const std::string& family_id) {
  return firstRow(kFamilies, db_->run(kFamilyGet, {family_id}), "family not found");
}

Status SqlStore::updateFamilyUpstreamData(const std::string& family_id, const std::string& data) {
  return changedOne(db_->run(kFamilySetUpstream, {family_id, data}), "family not found");
}

Result<RefreshToken> SqlStore::getRefreshToken(const std::string& token_hash) {
  return firstRow(kTokens, db_->run(kTokenGet, {token_hash}), "refresh token not found");
}

Result<TokenAndFamily> SqlStore::getRefreshTokenAndFamily(const std::string& token_hash) {
  auto r = db_->run(kTokenGetWithFamily, {token_hash});
  if (!r.ok()) return r.error();
  if (r->rows.empty()) return Error::notFound("refresh token not found");
  const auto& row = r->rows.front();
  return TokenAndFamily{kTokens.decode(row), kFamilies.decode(row, kTokens.size())};
}

// One statement on PostgreSQL (claim and successor), one transaction on SQLite; the common case
// writes two rows and reads nothing back.
Result<RotateOutcome> SqlStore::rotateRefreshToken(const std::string& old_hash,
                                                   const RefreshToken& successor, int64_t now) {
  const SqlParams claim = {old_hash, stamp(now), successor.token_hash};
  if (db_->writesInWith()) {
    auto claimed =
        db_->run(kTokenRotateWith, concat({old_hash, stamp(now)}, kTokens.params(successor)));
    if (!claimed.ok()) return claimed.error();
    if (!claimed->rows.empty()) return rotated(claimed->rows.front());
    return unclaimed(*db_, old_hash);
  }
  Result<RotateOutcome> outcome = Error::internal("rotation did not run");
  Status st = db_->transact([&](SqlSession& s) -> Status {
    auto claimed = s.run(kTokenRotate, claim);
    if (!claimed.ok()) return claimed.error();
    if (claimed->rows.empty()) {
      outcome = unclaimed(s, old_hash);
      return outcome.ok() ? Status() : Status(outcome.error());
    }
    outcome = rotated(claimed->rows.front());
    return done(s.run(kTokenInsert, kTokens.params(successor)));
  });
  if (!st.ok()) return st.error();
  return outcome;
}

Status SqlStore::revokeFamily(const std::string& family_id, const std::string& reason,
                              int64_t now) {
  return changedOne(db_->run(kFamilyRevoke, {family_id, stamp(now), reason}), "family not found");
}

Result<int64_t> SqlStore::revokeFamiliesBySubject(const std::string& subject, int64_t now) {
  auto r = db_->run(kFamilyRevokeBySubject, {subject, stamp(now), std::string("subject_revoked")});
  if (!r.ok()) return r.error();
  return r->affected;
}

Result<int64_t> SqlStore::revokeFamiliesByClient(const std::string& client_id, int64_t now) {
  auto r = db_->run(kFamilyRevokeByClient, {client_id, stamp(now), std::string("client_revoked")});
  if (!r.ok()) return r.error();
  return r->affected;
}

Status SqlStore::revokeAccessToken(const std::string& jti, int64_t expires_at) {
  return done(db_->run(kJtiRevoke, {jti, expires_at}));
}

Result<bool> SqlStore::isAccessTokenRevoked(const std::string& jti) {
  auto r = db_->run(kJtiGet, {jti});
  if (!r.ok()) return r.error();
  return !r->rows.empty();
}

Status SqlStore::revokeGrant(const std::string& family_id, const std::string& reason, int64_t now,
                             int64_t expires_at) {
  return db_->transact([&](SqlSession& s) -> Status {
    if (auto st = done(s.run(kGrantRevoke, {family_id, reason, stamp(now), expires_at}));
        !st.ok()) {
      return st;
    }
    return done(s.run(kFamilyRevoke, {family_id, stamp(now), reason}));
  });
}

Result<bool> SqlStore::isAccessGrantRevoked(const std::string& jti, const std::string& family_id) {
  auto r = db_->run(kGrantRevoked, {jti, family_id});
  if (!r.ok()) return r.error();
  return !r->rows.empty() && r->rows.front().integer(0) != 0;
}

Result<RevokedGrants> SqlStore::listRevokedGrants(int64_t since, int64_t now) {
  auto r = db_->run(kRevokedGrants, {now, since});
  if (!r.ok()) return r.error();
  RevokedGrants out;
  for (const auto& row : r->rows) {
    (row.text(0) == "j" ? out.jtis : out.families).push_back(row.text(1));
  }
  return out;
}

Result<std::vector<SigningKeyRecord>> SqlStore::listSigningKeys() {
  return allRows(kKeys, db_->run(kKeyList, {}));
}

Status SqlStore::insertSigningKey(const SigningKeyRecord& k) {
  return done(db_->run(kKeyInsert, kKeys.params(k)));
}

Status SqlStore::updateSigningKeyTimes(const std::string& kid, int64_t retires_at,
                                       int64_t expires_at) {
  return changedOne(db_->run(kKeyUpdateTimes, {kid, retires_at, expires_at}),
                    "signing key not found");
}

Status SqlStore::appendAudit(const std::vector<AuditEvent>& events) {
  if (events.empty()) return {};
  return db_->transact([&](SqlSession& s) -> Status {
    for (const AuditEvent& e : events) {
      if (auto st = done(s.run(kAuditInsert, kAudit.params(e))); !st.ok()) return st;
    }
    return {};
  });
}

Result<std::vector<AuditEvent>> SqlStore::listAudit(const AuditQuery& q) {
  auto rows = allRows(kAudit, db_->run(kAuditList, {q.since, q.subject, q.client_id,
                                                    scopePattern(q.server), q.limit}));
  if (rows.ok()) std::reverse(rows->begin(), rows->end());
  return rows;
}

Result<std::vector<SessionInfo>> SqlStore::listSessions(const SessionQuery& q) {
  auto r = db_->run(kSessionList, {q.now, q.subject, q.client_id, scopePattern(q.server)});
  if (!r.ok()) return r.error();
  std::vector<SessionInfo> out;
  out.reserve(r->rows.size());
  for (const auto& row : r->rows) {
    SessionInfo s;
    s.family_id = row.text(0);
    s.client_id = row.text(1);
    s.client_name = row.text(2);
    s.subject = row.text(3);
    s.scope = row.text(4);
    s.identity_json = row.text(5);
    s.created_at = row.integer(6);
    s.last_used_at = row.integer(7);
    s.expires_at = row.integer(8);
    out.push_back(std::move(s));
  }
  return out;
}

Result<int64_t> SqlStore::revokeAllFamilies(int64_t now) {
  auto r = db_->run(kFamilyRevokeAll, {stamp(now)});
  if (!r.ok()) return r.error();
  return r->affected;
}

Result<GcStats> SqlStore::collectGarbage(const GcPolicy& policy) {
  GcStats stats;
  struct Step {
    const SqlStatement& stmt;
    int64_t cutoff;
    int64_t& count;
  };
  std::vector<Step> steps = {
      {kGcLogins, policy.now, stats.pending_logins},
      {kGcCodes, policy.now - kAuthCodeRetentionSeconds, stats.codes},
      {kGcTokens, policy.now, stats.refresh_tokens},
      {kGcFamilyTokens, policy.now, stats.refresh_tokens},
      {kGcFamilies, policy.now, stats.families},
      {kGcJtis, policy.now, stats.revoked_jtis},
      {kGcGrants, policy.now, stats.revoked_grants},
      {kGcKeys, policy.now, stats.signing_keys},
  };
  if (policy.client_idle_ttl > 0) {
    steps.push_back({kGcClients, policy.now - policy.client_idle_ttl, stats.clients});
  }
  if (policy.audit_retention > 0) {
    steps.push_back({kGcAudit, policy.now - policy.audit_retention, stats.audit_events});
  }
  for (const Step& step : steps) {
    for (;;) {
      const auto started = std::chrono::steady_clock::now();
      auto r = db_->run(step.stmt, {step.cutoff, kGcBatchRows});
      if (!r.ok()) return r.error();
      step.count += r->affected;
      if (r->affected < kGcBatchRows) break;
      // Requests queue for the writer while a batch runs. Resting as long as the batch took
      // leaves the collector at most half of the writer's time and lets that queue drain: the
      // pool hands a released connection to whoever asks first, which would otherwise be the
      // collector again, and a backlog of a million rows would starve every write for minutes.
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::steady_clock::now() - started, kGcMaxRest));
    }
  }
  return stats;
}

}  // namespace broker::store
