#pragma once
// Helpers for PostgreSQL connection URLs: a password-free description for messages, and the
// connection defaults the broker relies on (a bounded connect timeout).

#include <string>

namespace broker::store {

// "host:port/dbname" for error messages; never contains the user or password.
std::string describePostgresUrl(const std::string& url);

// Adds connect_timeout (`connect_timeout_s`), tcp_user_timeout and TCP keepalives (so an
// unreachable or vanished server fails instead of hanging) and an application name, each unless
// the URL sets it.
std::string withPostgresDefaults(const std::string& url, int connect_timeout_s = 10);

}  // namespace broker::store
