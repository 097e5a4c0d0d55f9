#include "broker/core/broker_metrics.h"

namespace broker::metrics {

BrokerMetrics::BrokerMetrics(Registry& r)
    : registry(r),
      http_requests(r.counter("broker_http_requests_total",
                              "HTTP requests answered, by route and status class.",
                              {"route", "code"})),
      http_duration(r.histogram("broker_http_request_duration_seconds",
                                "Time from a request's last byte to its answer, by route.",
                                {"route"}, defaultLatencyBuckets())),
      rate_limited(r.counter("broker_http_rate_limited_total",
                             "Requests refused with 429 by the per-address rate limits, by group.",
                             {"group"})),
      worker_queue_depth(
          r.callbackGauge("broker_worker_queue_depth", "Requests waiting for a worker thread.")),
      connections_open(r.callbackGauge("broker_http_connections_open", "Open client connections.")),
      logins(r.counter("broker_logins_total",
                       "Upstream sign-ins that reached the broker's callback, by upstream and "
                       "outcome (succeeded, denied by policy, failed at the upstream).",
                       {"upstream", "outcome"})),
      signins(r.counter("broker_signins_total",
                        "MCP servers granted at sign-in, by upstream and server.",
                        {"upstream", "server"})),
      denials(r.counter("broker_denials_total",
                        "MCP servers the policy refused, by upstream, server and where (signin, "
                        "refresh).",
                        {"upstream", "server", "at"})),
      grants(r.counter("broker_token_grants_total",
                       "Token requests by grant type and outcome (issued or the OAuth error code).",
                       {"grant_type", "outcome"})),
      code_reuse(r.counter("broker_code_reuse_total",
                           "Authorization codes presented again (what they minted is revoked).")
                     .get()),
      refresh_reuse(r.counter("broker_refresh_reuse_total",
                              "Rotated refresh tokens replayed outside the grace window (the "
                              "family is revoked).")
                        .get()),
      revocations(r.counter("broker_revocations_total",
                            "Revocations, by what was revoked and who asked (client, admin, "
                            "reuse detection).",
                            {"kind", "source"})),
      upstream_duration(r.histogram("broker_upstream_request_duration_seconds",
                                    "Time spent in calls to an upstream identity provider, by "
                                    "upstream and call (login, refresh).",
                                    {"upstream", "call"}, upstreamLatencyBuckets())),
      upstream_errors(r.counter("broker_upstream_errors_total",
                                "Upstream calls that failed (unreachable or a bad answer), by "
                                "upstream and call.",
                                {"upstream", "call"})),
      store_duration(r.histogram("broker_store_operation_duration_seconds",
                                 "Time spent in store operations, by operation.", {"operation"},
                                 defaultLatencyBuckets())),
      store_errors(r.counter("broker_store_errors_total",
                             "Store operations that failed, by operation and error code.",
                             {"operation", "code"})),
      policy_reloads(r.counter("broker_policy_reloads_total",
                               "Policy reloads, by outcome (ok, error: the old policy stays).",
                               {"outcome"})),
      policy_generation(r.gauge("broker_policy_generation",
                                "Policies loaded by this process; the one in force is this "
                                "generation.")
                            .get()),
      key_age(r.callbackGauge("broker_signing_key_age_seconds",
                              "Seconds since the current signing key started signing.")),
      key_next_rotation(r.callbackGauge("broker_signing_key_next_rotation_seconds",
                                        "Seconds until the next automatic key rotation is due "
                                        "(negative: overdue).")),
      revocation_list_age(r.callbackGauge("broker_revocation_list_age_seconds",
                                          "Seconds since the in-memory revocation list last "
                                          "loaded from the store.")),
      audit_events(
          r.counter("broker_audit_events_total", "Security events recorded, by event.", {"event"})),
      audit_write_errors(r.counter("broker_audit_write_errors_total",
                                   "Batches of audit events that could not be written to the "
                                   "store (the events are still in the log).")
                             .get()),
      audit_queue_depth(r.callbackGauge("broker_audit_queue_depth",
                                        "Audit events waiting to be written to the store.")) {}

const char* BrokerMetrics::statusClass(int status) {
  switch (status / 100) {
    case 1:
      return "1xx";
    case 2:
      return "2xx";
    case 3:
      return "3xx";
    case 4:
      return "4xx";
    default:
      return "5xx";
  }
}

}  // namespace broker::metrics
