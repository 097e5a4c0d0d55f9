// libFuzzer target for GitHub's answers: the token exchange (errors as HTTP 200 with an "error"
// member), GET /user, the paginated /user/emails, /user/orgs and /user/teams with their Link
// headers, rate-limit answers, and then a refresh that renews an expiring token and re-reads the
// identity. The input is a script of responses (see scripted_http.h), served in order.
//
// Properties: nothing throws or crashes; a sign-in that succeeds names a numeric subject and a
// login, lists each group once, and never sent the token to an origin other than the API's. The
// seed corpus is replayed by a plain ctest (github_upstream_fuzz_corpus) with any compiler.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/core/random.h"
#include "broker/upstream/github.h"
#include "fuzz/scripted_http.h"

namespace {

bool validIdentity(const broker::Identity& who) {
  if (who.subject.empty() || who.username.empty()) return false;
  if (!std::all_of(who.subject.begin(), who.subject.end(),
                   [](char c) { return (c >= '0' && c <= '9') || c == '-'; })) {
    return false;
  }
  for (size_t i = 0; i < who.groups.size(); ++i) {
    if (std::count(who.groups.begin(), who.groups.end(), who.groups[i]) != 1) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (broker::log::setLevel(broker::log::Level::kError), true);
  (void)quiet;
  const std::string_view script(reinterpret_cast<const char*>(data), size);
  auto http = std::make_shared<broker::fuzz::ScriptedHttp>(script);
  broker::FakeClock clock;
  broker::FakeRandom random;
  broker::upstream::GitHubOptions o;
  o.client_id = "Iv1.fuzz";
  o.client_secret = broker::Secret("fuzz-secret");
  o.max_pages = 3;
  auto github = broker::upstream::makeGitHubUpstream(o, http, clock, random);

  broker::upstream::Callback cb;
  cb.params = {{"code", "fuzz-code"}, {"state", "fuzz-state"}};
  cb.callback_url = "https://auth.example.com/auth/github/callback";
  cb.upstream_data = R"({"v":"verifier-verifier-verifier-verifier-verif","m":true})";
  auto login = github->completeLogin(cb);
  for (const auto& request : http->requests()) {
    const bool api = request.url.rfind("https://api.github.com/", 0) == 0;
    const bool web = request.url == "https://github.com/login/oauth/access_token";
    if (!api && !web) __builtin_trap();
  }
  if (!login.ok()) return 0;
  if (!validIdentity(login->identity)) __builtin_trap();

  // Past the identity cache and the token's expiry: a refresh renews and reads again.
  clock.advance(9 * 3600);
  auto refreshed = github->refreshIdentity(login->identity, login->session_data);
  if (refreshed.ok() && (!validIdentity(refreshed->identity) ||
                         refreshed->identity.subject != login->identity.subject)) {
    __builtin_trap();
  }
  return 0;
}
