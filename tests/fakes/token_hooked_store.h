#pragma once
// A Store that forwards to a real one and runs a hook just before each signing-key insert, so a
// test can make another instance win a rotation race at exactly that point.

#include <functional>
#include <string>
#include <vector>

#include "broker/store/store.h"

namespace broker::testing {

class TokenHookedStore : public store::Store {
 public:
  explicit TokenHookedStore(store::Store& inner) : inner_(inner) {}

  // Runs once, before the next insertSigningKey call is forwarded.
  void beforeNextKeyInsert(std::function<void()> hook) { hook_ = std::move(hook); }

  Status insertSigningKey(const store::SigningKeyRecord& k) override {
    if (auto hook = std::move(hook_)) {
      hook_ = nullptr;
      hook();
    }
    return inner_.insertSigningKey(k);
  }

  std::string backendName() const override { return inner_.backendName(); }
  Status ping() override { return inner_.ping(); }
  Status createClient(const store::ClientRecord& c) override { return inner_.createClient(c); }
  Result<store::ClientRecord> getClient(const std::string& id) override {
    return inner_.getClient(id);
  }
  Result<std::vector<store::ClientRecord>> listClients() override { return inner_.listClients(); }
  Status deleteClient(const std::string& id) override { return inner_.deleteClient(id); }
  Status touchClient(const std::string& id, int64_t now) override {
    return inner_.touchClient(id, now);
  }
  Status createPendingLogin(const store::PendingLogin& p) override {
    return inner_.createPendingLogin(p);
  }
  Result<store::PendingLogin> consumePendingLogin(const std::string& h, int64_t now) override {
    return inner_.consumePendingLogin(h, now);
  }
  Result<store::PendingLogin> getPendingLogin(const std::string& h, int64_t now) override {
    return inner_.getPendingLogin(h, now);
  }
  Status createAuthCode(const store::AuthCode& c) override { return inner_.createAuthCode(c); }
  Result<store::CodeConsumption> consumeAuthCode(const std::string& h, int64_t now) override {
    return inner_.consumeAuthCode(h, now);
  }
  Status createFamily(const store::Family& f, const store::RefreshToken& first) override {
    return inner_.createFamily(f, first);
  }
  Result<store::Family> getFamily(const std::string& id) override { return inner_.getFamily(id); }
  Status updateFamilyUpstreamData(const std::string& id, const std::string& data) override {
    return inner_.updateFamilyUpstreamData(id, data);
  }
  Result<store::RefreshToken> getRefreshToken(const std::string& h) override {
    return inner_.getRefreshToken(h);
  }
  Result<store::TokenAndFamily> getRefreshTokenAndFamily(const std::string& h) override {
    return inner_.getRefreshTokenAndFamily(h);
  }
  Result<store::RotateOutcome> rotateRefreshToken(const std::string& old_hash,
                                                  const store::RefreshToken& successor,
                                                  int64_t now) override {
    return inner_.rotateRefreshToken(old_hash, successor, now);
  }
  Status revokeFamily(const std::string& id, const std::string& reason, int64_t now) override {
    return inner_.revokeFamily(id, reason, now);
  }
  Result<int64_t> revokeFamiliesBySubject(const std::string& subject, int64_t now) override {
    return inner_.revokeFamiliesBySubject(subject, now);
  }
  Result<int64_t> revokeFamiliesByClient(const std::string& client_id, int64_t now) override {
    return inner_.revokeFamiliesByClient(client_id, now);
  }
  Status revokeAccessToken(const std::string& jti, int64_t expires_at) override {
    return inner_.revokeAccessToken(jti, expires_at);
  }
  Result<bool> isAccessTokenRevoked(const std::string& jti) override {
    return inner_.isAccessTokenRevoked(jti);
  }
  Status revokeGrant(const std::string& family_id, const std::string& reason, int64_t now,
                     int64_t expires_at) override {
    return inner_.revokeGrant(family_id, reason, now, expires_at);
  }
  Result<bool> isAccessGrantRevoked(const std::string& jti, const std::string& family_id) override {
    return inner_.isAccessGrantRevoked(jti, family_id);
  }
  Result<store::RevokedGrants> listRevokedGrants(int64_t since, int64_t now) override {
    return inner_.listRevokedGrants(since, now);
  }
  Result<std::vector<store::SigningKeyRecord>> listSigningKeys() override {
    return inner_.listSigningKeys();
  }
  Status updateSigningKeyTimes(const std::string& kid, int64_t retires_at,
                               int64_t expires_at) override {
    return inner_.updateSigningKeyTimes(kid, retires_at, expires_at);
  }
  Status appendAudit(const std::vector<store::AuditEvent>& events) override {
    return inner_.appendAudit(events);
  }
  Result<std::vector<store::AuditEvent>> listAudit(const store::AuditQuery& query) override {
    return inner_.listAudit(query);
  }
  Result<std::vector<store::SessionInfo>> listSessions(const store::SessionQuery& query) override {
    return inner_.listSessions(query);
  }
  Result<int64_t> revokeAllFamilies(int64_t now) override { return inner_.revokeAllFamilies(now); }
  Result<store::GcStats> collectGarbage(const store::GcPolicy& policy) override {
    return inner_.collectGarbage(policy);
  }

 private:
  store::Store& inner_;
  std::function<void()> hook_;
};

}  // namespace broker::testing
