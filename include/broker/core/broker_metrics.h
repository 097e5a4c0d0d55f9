#pragma once
// The broker's metrics, each named once here (docs/OPERATIONS.md lists them). Modules receive a
// `BrokerMetrics*` through their options or dependencies; null means "not measured". No label
// carries a user, token or client id: labels are routes, status classes, upstream ids, policy
// servers, grant types, OAuth error codes and store operations.

#include <string>

#include "broker/core/metrics.h"

namespace broker::metrics {

struct BrokerMetrics {
  explicit BrokerMetrics(Registry& r);

  Registry& registry;
  // HTTP (src/http/server.cpp).
  Family<Counter>& http_requests;     // {route, code="2xx".."5xx"}
  Family<Histogram>& http_duration;   // {route}
  Family<Counter>& rate_limited;      // {group}
  CallbackGauge& worker_queue_depth;  // jobs waiting for a worker thread
  CallbackGauge& connections_open;
  // Sign-in and policy (src/oauth).
  Family<Counter>& logins;   // {upstream, outcome=succeeded|denied|failed}
  Family<Counter>& signins;  // {upstream, server}: a server granted at sign-in
  Family<Counter>& denials;  // {upstream, server, at=signin|refresh}
  Family<Counter>& grants;   // {grant_type, outcome=issued|<OAuth error code>}
  Counter& code_reuse;
  Counter& refresh_reuse;
  Family<Counter>& revocations;          // {kind, source}
  Family<Histogram>& upstream_duration;  // {upstream, call=login|refresh}
  Family<Counter>& upstream_errors;      // {upstream, call}
  // Store (src/store).
  Family<Histogram>& store_duration;  // {operation}
  Family<Counter>& store_errors;      // {operation, code}
  // Policy, keys, revocation list, audit (src/app).
  Family<Counter>& policy_reloads;  // {outcome=ok|error}
  Gauge& policy_generation;         // counts successful loads in this process, from 1
  CallbackGauge& key_age;
  CallbackGauge& key_next_rotation;
  CallbackGauge& revocation_list_age;
  Family<Counter>& audit_events;  // {event}: security events recorded
  Counter& audit_write_errors;    // audit batches that could not be written
  CallbackGauge& audit_queue_depth;

  // "1xx".."5xx" for a status code.
  static const char* statusClass(int status);
};

}  // namespace broker::metrics
