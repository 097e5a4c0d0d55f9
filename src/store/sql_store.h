#pragma once
// The Store written once in portable SQL over a SqlDatabase driver (SQLite or PostgreSQL).

#include <memory>
#include <string>
#include <vector>

#include "broker/store/store.h"
#include "store/sql_driver.h"

namespace broker::store {

// Used authorization codes are kept this long past their expiry so that a replay shortly after
// expiry is still recognised as a replay (and revokes what the code minted).
constexpr int64_t kAuthCodeRetentionSeconds = 3600;
// The garbage collector deletes at most this many rows per statement (and transaction). With
// random-hash keys every row touches a different page of each index, so on SQLite a batch of 500
// rewrites a few thousand pages; measured in docs/BENCHMARKS.md ("Big tables").
constexpr int64_t kGcBatchRows = 500;

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<SqlDatabase> db);

  std::string backendName() const override;
  Status ping() override;

  Status createClient(const ClientRecord& c) override;
  Result<ClientRecord> getClient(const std::string& client_id) override;
  Result<std::vector<ClientRecord>> listClients() override;
  Status deleteClient(const std::string& client_id) override;
  Status touchClient(const std::string& client_id, int64_t now) override;

  Status createPendingLogin(const PendingLogin& p) override;
  Result<PendingLogin> consumePendingLogin(const std::string& state_hash, int64_t now) override;
  Result<PendingLogin> getPendingLogin(const std::string& state_hash, int64_t now) override;

  Status createAuthCode(const AuthCode& c) override;
  Result<CodeConsumption> consumeAuthCode(const std::string& code_hash, int64_t now) override;

  Status createFamily(const Family& f, const RefreshToken& first) override;
  Result<Family> getFamily(const std::string& family_id) override;
  Status updateFamilyUpstreamData(const std::string& family_id, const std::string& data) override;
  Result<RefreshToken> getRefreshToken(const std::string& token_hash) override;
  Result<TokenAndFamily> getRefreshTokenAndFamily(const std::string& token_hash) override;
  Result<RotateOutcome> rotateRefreshToken(const std::string& old_hash,
                                           const RefreshToken& successor, int64_t now) override;
  Status revokeFamily(const std::string& family_id, const std::string& reason,
                      int64_t now) override;
  Result<int64_t> revokeFamiliesBySubject(const std::string& subject, int64_t now) override;
  Result<int64_t> revokeFamiliesByClient(const std::string& client_id, int64_t now) override;

  Status revokeAccessToken(const std::string& jti, int64_t expires_at) override;
  Result<bool> isAccessTokenRevoked(const std::string& jti) override;
  Status revokeGrant(const std::string& family_id, const std::string& reason, int64_t now,
                     int64_t expires_at) override;
  Result<bool> isAccessGrantRevoked(const std::string& jti, const std::string& family_id) override;
  Result<RevokedGrants> listRevokedGrants(int64_t since, int64_t now) override;

  Result<std::vector<SigningKeyRecord>> listSigningKeys() override;
  Status insertSigningKey(const SigningKeyRecord& k) override;
  Status updateSigningKeyTimes(const std::string& kid, int64_t retires_at,
                               int64_t expires_at) override;

  Status appendAudit(const std::vector<AuditEvent>& events) override;
  Result<std::vector<AuditEvent>> listAudit(const AuditQuery& query) override;
  Result<std::vector<SessionInfo>> listSessions(const SessionQuery& query) override;
  Result<int64_t> revokeAllFamilies(int64_t now) override;

  Result<GcStats> collectGarbage(const GcPolicy& policy) override;

 private:
  std::unique_ptr<SqlDatabase> db_;
};

}  // namespace broker::store
