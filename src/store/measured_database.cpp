#include "store/measured_database.h"

#include <utility>

namespace broker::store {
namespace {

void countError(metrics::BrokerMetrics& m, const std::string& operation, const Error& e) {
  // Not found and a lost race are answers, not failures of the store.
  if (e.code == ErrorCode::kNotFound || e.code == ErrorCode::kConflict) return;
  m.store_errors.with({operation, toString(e.code)}).inc();
}

class MeasuredSession final : public SqlSession {
 public:
  MeasuredSession(SqlSession& inner, metrics::BrokerMetrics& m) : inner_(inner), m_(m) {}
  Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) override {
    metrics::Timer timer(&m_.store_duration.with({stmt.name}));
    auto r = inner_.run(stmt, params);
    if (!r.ok()) countError(m_, stmt.name, r.error());
    return r;
  }
  Status runScript(const std::string& sql) override { return inner_.runScript(sql); }

 private:
  SqlSession& inner_;
  metrics::BrokerMetrics& m_;
};

class MeasuredDatabase final : public SqlDatabase {
 public:
  MeasuredDatabase(std::unique_ptr<SqlDatabase> inner, metrics::BrokerMetrics& m)
      : inner_(std::move(inner)), m_(m), transaction_(m.store_duration.with({"transaction"})) {}

  std::string backendName() const override { return inner_->backendName(); }

  Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) override {
    metrics::Timer timer(&m_.store_duration.with({stmt.name}));
    auto r = inner_->run(stmt, params);
    if (!r.ok()) countError(m_, stmt.name, r.error());
    return r;
  }

  Status transact(const std::function<Status(SqlSession&)>& body) override {
    metrics::Timer timer(&transaction_);
    Status st = inner_->transact([&](SqlSession& s) {
      MeasuredSession measured(s, m_);
      return body(measured);
    });
    if (!st.ok()) countError(m_, "transaction", st.error());
    return st;
  }

  Status lockForMigration(SqlSession& session) override {
    return inner_->lockForMigration(session);
  }

 private:
  std::unique_ptr<SqlDatabase> inner_;
  metrics::BrokerMetrics& m_;
  metrics::Histogram& transaction_;
};

}  // namespace

std::unique_ptr<SqlDatabase> measureDatabase(std::unique_ptr<SqlDatabase> db,
                                             metrics::BrokerMetrics& metrics) {
  return std::make_unique<MeasuredDatabase>(std::move(db), metrics);
}

}  // namespace broker::store
