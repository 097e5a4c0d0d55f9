#pragma once
// GitHub (github.com or GitHub Enterprise Server) as an upstream: OAuth Apps and GitHub Apps,
// the user's numeric id as subject, the primary verified email, and org / org/team memberships as
// groups, re-read (with a short cache) on every refresh of a broker refresh token.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/config/config.h"
#include "broker/core/clock.h"
#include "broker/core/random.h"
#include "broker/core/secret.h"
#include "broker/upstream/http_client.h"
#include "broker/upstream/upstream.h"

namespace broker::upstream {

struct GitHubOptions {
  std::string id = "github";
  std::string display_name = "GitHub";
  std::string client_id;
  Secret client_secret;
  std::string web_url = "https://github.com";      // no trailing slash
  std::string api_url = "https://api.github.com";  // GHES: https://HOST/api/v3
  // Empty: "read:user user:email". "read:org" is added to a login whose BeginLogin asks for
  // memberships (the policy in force names orgs, teams or groups of this upstream).
  std::vector<std::string> scopes;
  // false: never read /user/orgs and /user/teams, whatever a login asks.
  bool needs_membership = true;
  // Refuse sign-in for an account without a primary verified email.
  bool require_verified_email = false;
  int64_t membership_cache_ttl = 600;  // seconds
  int max_pages = 10;                  // per listing, 100 entries a page
  HttpClientOptions http;
};

// Reads `settings.settings_json`. Keys: client_id, client_secret, web_url, api_url, scopes,
// ca_file, timeout, membership_cache_ttl, require_verified_email. Throws config::ConfigError.
GitHubOptions parseGitHubSettings(const config::UpstreamSettings& settings,
                                  bool needs_membership = true);

// `http` may be null (a libcurl client built from options.http). `clock` and `random` must
// outlive the upstream.
std::shared_ptr<UpstreamProvider> makeGitHubUpstream(GitHubOptions options,
                                                     std::shared_ptr<HttpClient> http = nullptr,
                                                     Clock& clock = Clock::system(),
                                                     Random& random = Random::system());

}  // namespace broker::upstream
