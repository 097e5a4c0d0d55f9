// libFuzzer target for the policy loader: any input either loads into a policy that can be
// evaluated and summarised, or is rejected with PolicyError. Any other exception, crash, hang or
// sanitizer report is a bug. Built with clang when BROKER_BUILD_FUZZ is on; the seed corpus is
// also replayed by a plain ctest (policy_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string>

#include "broker/policy/policy.h"

namespace {

broker::Identity identity(const char* upstream, const char* user, const char* group,
                          const char* email, const char* subject = nullptr) {
  broker::Identity w;
  w.upstream_id = upstream;
  w.subject = subject ? subject : user;
  w.username = user;
  w.groups = {group, "acme", "acme/platform"};
  w.email = email;
  w.email_verified = true;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const broker::policy::Policy> p;
  try {
    broker::policy::LoadOptions options;
    // Half the inputs are checked against a configured set of upstreams as `serve` does.
    if (size % 2) options.known_upstreams = {"github", "corp", "dev"};
    p = broker::policy::Policy::loadString(text, "fuzz.yaml", options);
  } catch (const broker::policy::PolicyError&) {
    return 0;
  }
  static const broker::Identity people[] = {
      identity("github", "alice", "admins", "alice@example.com"),
      identity("corp", "Bob", "employees", "bob@EXAMPLE.org"),
      identity("", "", "", ""),
      // Ids as the seed corpus writes them, under logins that match nothing.
      identity("github", "renamed", "admins", "", "12345"),
      identity("corp", "renamed", "", "", "248289761001"),
  };
  for (const auto* server : p->servers()) {
    if (p->findScope(server->scope) != server) __builtin_trap();
    for (const auto& r : server->resources) {
      if (p->findResource(r) != server) __builtin_trap();
    }
    for (const auto& person : people) {
      auto d = p->evaluate(person, server->scope);
      if (d.rule.empty()) __builtin_trap();
      for (const auto& sub : server->sub_scopes) {
        auto s = p->evaluate(person, sub);
        if (s.allowed && !d.allowed) __builtin_trap();  // a sub-scope never widens its server
      }
    }
  }
  (void)p->summary();
  (void)p->warnings();
  (void)p->defaultScopes();
  return 0;
}
