#pragma once
// A SqlDatabase that times every statement and transaction into the broker's metrics: one
// histogram child per statement name ("codes.consume"), "transaction" for a write transaction as a
// whole, and errors by statement and error code. The statement names are the store's own, so the
// label set is bounded.

#include <memory>

#include "broker/core/broker_metrics.h"
#include "store/sql_driver.h"

namespace broker::store {

std::unique_ptr<SqlDatabase> measureDatabase(std::unique_ptr<SqlDatabase> db,
                                             metrics::BrokerMetrics& metrics);

}  // namespace broker::store
