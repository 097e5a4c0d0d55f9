// PostgreSQL URL helpers (libpq URI syntax:
// postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]).

#include "store/postgres_url.h"

namespace broker::store {
namespace {

std::string afterScheme(const std::string& url) {
  auto pos = url.find("://");
  return pos == std::string::npos ? url : url.substr(pos + 3);
}

bool hasParam(const std::string& url, const std::string& name) {
  auto q = url.find('?');
  if (q == std::string::npos) return false;
  std::string query = "&" + url.substr(q + 1);
  return query.find("&" + name + "=") != std::string::npos;
}

}  // namespace

std::string describePostgresUrl(const std::string& url) {
  std::string rest = afterScheme(url);
  rest = rest.substr(0, rest.find('?'));
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string dbname = slash == std::string::npos ? "" : rest.substr(slash + 1);
  // The password may itself contain '@' only percent-encoded, so the last '@' ends the userinfo.
  auto at = authority.rfind('@');
  std::string hostport = at == std::string::npos ? authority : authority.substr(at + 1);
  std::string host = hostport;
  std::string port;
  auto colon = hostport.rfind(':');
  auto bracket = hostport.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) host = "localhost";
  if (port.empty()) port = "5432";
  return host + ":" + port + "/" + dbname;
}

std::string withPostgresDefaults(const std::string& url, int connect_timeout_s) {
  std::string out = url;
  auto add = [&](const std::string& name, const std::string& value) {
    if (hasParam(out, name)) return;
    out += (out.find('?') == std::string::npos ? "?" : "&") + name + "=" + value;
  };
  add("connect_timeout", std::to_string(connect_timeout_s));
  // Data sent to a server that stopped acknowledging it (a cut network) fails the connection
  // after this many milliseconds instead of the kernel's retransmission limit of minutes.
  add("tcp_user_timeout", std::to_string(connect_timeout_s * 1000));
  // A server that vanishes mid-query is noticed in about a minute instead of the OS's hours.
  add("keepalives_idle", "30");
  add("keepalives_interval", "10");
  add("keepalives_count", "3");
  add("fallback_application_name", "mcp-auth-broker");
  return out;
}

}  // namespace broker::store
