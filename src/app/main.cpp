// mcp-auth-broker command line: serve, migrate, keys, client, revoke, policy.

#include <malloc.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/commands.h"

int main(int argc, char** argv) {
  using namespace broker::app;
  // glibc hands a worker thread's freed heap top back to the kernel (madvise) and maps large
  // blocks afresh, both adjusted at run time; under a refresh load that showed as a steady stream
  // of madvise calls and TLB flushes (4-5 % of the broker's profile). Fixed thresholds keep pages:
  // the broker's heap is small (peak RSS about 22 MB in scripts/bench) and stays bounded.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  CLI::App app{
      "mcp-auth-broker: an OAuth 2.1 authorization server for MCP clients that delegates login to "
      "GitHub or OpenID Connect and issues its own RS256 JWT access tokens."};
  app.require_subcommand(1);
  GlobalOptions g;
  app.add_option("-c,--config", g.config_path, "Configuration file (YAML)")->capture_default_str();
  // `--config` may also follow the subcommand (`serve --config FILE`): subcommands created below
  // inherit this and hand options they do not know to their parent.
  app.fallthrough();

  auto* serve = app.add_subcommand("serve", "Run the authorization server");
  auto* migrate = app.add_subcommand("migrate", "Apply pending database migrations and exit");

  auto* keys = app.add_subcommand("keys", "Manage signing keys");
  keys->require_subcommand(1);
  auto* keys_list = keys->add_subcommand("list", "List signing keys and their states");
  auto* keys_rotate = keys->add_subcommand(
      "rotate", "Create a new signing key (published now, signing after keys.publish_ahead)");
  bool immediate = false;
  keys_rotate->add_flag("--now", immediate, "Start signing with the new key immediately");
  auto* keys_jwks = keys->add_subcommand("jwks", "Print the JWKS document");

  auto* client = app.add_subcommand("client", "Manage pre-registered clients");
  client->require_subcommand(1);
  auto* client_register =
      client->add_subcommand("register", "Register a client that never expires");
  std::string name, method = "none", client_id;
  std::vector<std::string> redirects;
  bool no_refresh = false;
  client_register->add_option("--name", name, "Client name shown on the consent page")->required();
  client_register->add_option("--redirect-uri", redirects, "Redirect URI (repeatable)")->required();
  client_register
      ->add_option("--auth-method", method, "none | client_secret_basic | client_secret_post")
      ->capture_default_str();
  client_register->add_option("--client-id", client_id,
                              "Use this client_id instead of a random one");
  client_register->add_flag("--no-refresh", no_refresh, "Do not allow the refresh_token grant");
  auto* client_list = client->add_subcommand("list", "List clients");
  auto* client_delete = client->add_subcommand("delete", "Delete a client");
  std::string delete_id;
  client_delete->add_option("client_id", delete_id, "Client to delete")->required();

  auto* revoke = app.add_subcommand(
      "revoke",
      "Revoke every refresh-token family of a subject or of a client (log out everywhere)");
  std::string subject, revoke_client;
  revoke->add_option("--subject", subject, "Qualified subject, e.g. github:12345");
  revoke->add_option("--client", revoke_client, "Client id");

  auto* policy = app.add_subcommand("policy", "Work with policy files");
  policy->require_subcommand(1);
  auto* policy_check = policy->add_subcommand(
      "check", "Validate a policy file and print its servers and who can reach each");
  std::string policy_file;
  std::vector<std::string> policy_upstreams;
  policy_check->add_option("file", policy_file, "Policy YAML file")->required();
  policy_check
      ->add_option("--known-upstreams", policy_upstreams,
                   "Upstream ids the broker is configured with; others are errors")
      ->delimiter(',');
  auto* policy_test = policy->add_subcommand(
      "test", "Run the policy file's own tests: section (exit 0 all pass, 1 a test fails)");
  policy_test->add_option("file", policy_file, "Policy YAML file")->required();
  policy_test
      ->add_option("--known-upstreams", policy_upstreams,
                   "Upstream ids the broker is configured with; others are errors")
      ->delimiter(',');
  auto* policy_explain = policy->add_subcommand(
      "explain",
      "Decide an identity against a policy and print the rule (exit 0 allowed, 1 denied)");
  ExplainOptions explain;
  policy_explain->add_option("file", explain.file, "Policy YAML file")->required();
  policy_explain->add_option("--user", explain.user, "Username at the upstream");
  policy_explain->add_option("--id", explain.id,
                             "Account id at the upstream: GitHub numeric user id or OIDC sub");
  policy_explain->add_option("--upstream", explain.upstream, "Upstream id, e.g. github")
      ->required();
  policy_explain->add_option("--orgs", explain.orgs, "GitHub orgs (comma-separated)")
      ->delimiter(',');
  policy_explain->add_option("--teams", explain.teams, "GitHub teams as org/team")->delimiter(',');
  policy_explain->add_option("--groups", explain.groups, "OIDC groups")->delimiter(',');
  policy_explain->add_option("--emails,--email", explain.emails, "Verified email address");
  policy_explain->add_flag("--email-unverified", explain.email_unverified,
                           "Treat the email as unverified");
  policy_explain->add_option("--scope", explain.scopes,
                             "Scope to decide (repeatable; default: every scope of the policy)");
  policy_explain
      ->add_option("--known-upstreams", explain.known_upstreams,
                   "Upstream ids the broker is configured with; others are errors")
      ->delimiter(',');
  bool against_store = false;
  policy_check->add_flag("--against-store", against_store,
                         "Also list the live sessions (of --config's store) this policy would cut "
                         "or narrow at their next refresh");
  auto* policy_migrate = policy->add_subcommand(
      "migrate", "Convert a JSON server list {\"servers\": {domain: {server: {...}}}} to YAML");
  std::string migrate_in, migrate_out;
  policy_migrate->add_option("file", migrate_in, "JSON file")->required();
  policy_migrate->add_option("-o,--output", migrate_out, "Write the YAML here (default: stdout)");

  // Audit trail and live sessions.
  auto* audit = app.add_subcommand("audit", "Print security events from the audit table");
  AuditOptions audit_options;
  audit->add_option("--subject", audit_options.subject, "Qualified subject, e.g. github:12345");
  audit->add_option("--client", audit_options.client, "Client id");
  audit->add_option("--server", audit_options.server,
                    "MCP server scope, e.g. mcp:example.com:tools");
  audit->add_option("--since", audit_options.since,
                    "Duration back from now (24h, 7d) or UTC time (2026-12-06T13:05:00Z)");
  audit->add_option("--limit", audit_options.limit, "At most this many, the newest")
      ->capture_default_str();
  audit->add_flag("--json", audit_options.json, "Print a JSON array instead of a table");
  auto* sessions = app.add_subcommand("sessions", "Live sessions (refresh-token families)");
  sessions->require_subcommand(1);
  auto* sessions_list =
      sessions->add_subcommand("list", "Who holds access to what now, through which client");
  SessionsOptions sessions_options;
  sessions_list->add_option("--subject", sessions_options.subject, "Qualified subject");
  sessions_list->add_option("--client", sessions_options.client, "Client id");
  sessions_list->add_option("--server", sessions_options.server, "MCP server scope");
  sessions_list->add_flag("--json", sessions_options.json, "Print a JSON array");
  auto* sessions_revoke = sessions->add_subcommand(
      "revoke", "End one session, or every session of a subject, of a client, or all");
  SessionsRevokeOptions revoke_options;
  sessions_revoke->add_option("session", revoke_options.session, "Session id (sessions list)");
  sessions_revoke->add_option("--subject", revoke_options.subject, "Qualified subject");
  sessions_revoke->add_option("--client", revoke_options.client, "Client id");
  sessions_revoke->add_flag("--all", revoke_options.all, "Every live session");

  CLI11_PARSE(app, argc, argv);

  if (*audit) return runAudit(g, audit_options);
  if (*sessions_list) return runSessionsList(g, sessions_options);
  if (*sessions_revoke) return runSessionsRevoke(g, revoke_options);
  if (*policy_check && against_store) {
    const int rc = runPolicyCheck(policy_file, policy_upstreams);
    return rc != 0 ? rc : runPolicyCheckAgainstStore(g, policy_file);
  }

  if (*serve) return runServe(g);
  if (*migrate) return runMigrate(g);
  if (*keys_list) return runKeysList(g);
  if (*keys_rotate) return runKeysRotate(g, immediate);
  if (*keys_jwks) return runKeysJwks(g);
  if (*client_register) {
    return runClientRegister(g, name, redirects, method, !no_refresh, client_id);
  }
  if (*client_list) return runClientList(g);
  if (*client_delete) return runClientDelete(g, delete_id);
  if (*revoke) {
    if (subject.empty() == revoke_client.empty()) {
      std::cerr << "revoke: give exactly one of --subject or --client\n";
      return 2;
    }
    return runRevoke(g, subject, revoke_client);
  }
  if (*policy_check) return runPolicyCheck(policy_file, policy_upstreams);
  if (*policy_test) return runPolicyTest(policy_file, policy_upstreams);
  if (*policy_explain) return runPolicyExplain(explain);
  if (*policy_migrate) return runPolicyMigrate(migrate_in, migrate_out);
  return 2;
}
