// A tiny MCP server (streamable HTTP transport, JSON responses) that accepts only access tokens
// minted by mcp-auth-broker for it, verified with the mcp_token_verifier library.
//
//   example_mcp_server --listen 127.0.0.1:9000 --issuer http://127.0.0.1:8080
//                      --resource http://127.0.0.1:9000/mcp --scope mcp:localhost:demo
//
// POST /mcp takes JSON-RPC: initialize, tools/list, tools/call (tool "whoami"), notifications.
// Without a valid token it answers 401 with the WWW-Authenticate challenge that points MCP
// clients at /.well-known/oauth-protected-resource/mcp, which this server also serves.
//
// Note: the verifier fetches the broker's JWKS on the first token and then only on a new key id
// (rate-limited) or when the cached set expires; that fetch runs on the calling thread.

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "mcp_auth/verifier.h"

namespace {

namespace P = Pistache;
using nlohmann::json;

struct Settings {
  std::string host = "127.0.0.1";
  int port = 9000;
  std::string issuer, resource, scope;
};

std::string metadataPath(const std::string& resource) {
  const size_t path = resource.find('/', resource.find("://") + 3);
  return "/.well-known/oauth-protected-resource" +
         (path == std::string::npos ? std::string() : resource.substr(path));
}

std::string origin(const std::string& resource) {
  return resource.substr(0, resource.find('/', resource.find("://") + 3));
}

// Pistache 0.0.5 does not write Raw headers in responses; a Header subclass it does write.
class WwwAuthenticate final : public P::Http::Header::Header {
 public:
  explicit WwwAuthenticate(std::string value) : value_(std::move(value)) {}
  const char* name() const override { return "WWW-Authenticate"; }
  void write(std::ostream& os) const override { os << value_; }
  uint64_t hash() const override { return kHash; }

 private:
  static constexpr uint64_t kHash = P::Http::Header::detail::hash("www-authenticate");
  std::string value_;
};

class McpHandler final : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(McpHandler)

  McpHandler(Settings s, std::shared_ptr<mcp_auth::Verifier> v)
      : settings_(std::move(s)), verifier_(std::move(v)) {}

  void onRequest(const P::Http::Request& req, P::Http::ResponseWriter resp) override {
    const std::string path = req.resource();
    if (req.method() == P::Http::Method::Get && (path == metadataPath(settings_.resource) ||
                                                 path == "/.well-known/oauth-protected-resource")) {
      json doc = {{"resource", settings_.resource},
                  {"authorization_servers", {settings_.issuer}},
                  {"scopes_supported", {settings_.scope}},
                  {"bearer_methods_supported", {"header"}}};
      return send(resp, P::Http::Code::Ok, doc.dump());
    }
    if (path != resourcePath()) return send(resp, P::Http::Code::Not_Found, R"({"error":"no"})");
    if (req.method() != P::Http::Method::Post) {
      return send(resp, P::Http::Code::Method_Not_Allowed, R"({"error":"POST only"})");
    }

    std::string authorization;
    if (auto h = req.headers().tryGetRaw("Authorization")) authorization = h->value();
    auto v = verifier_->verifyAuthorization(authorization);
    if (!v.ok()) {
      resp.headers().add(std::make_shared<WwwAuthenticate>(verifier_->challenge(v)));
      return send(
          resp, static_cast<P::Http::Code>(v.httpStatus()),
          json({{"error", v.outcome == mcp_auth::Outcome::kInsufficientScope ? "insufficient_scope"
                                                                             : "invalid_token"},
                {"error_description", mcp_auth::toString(v.status)}})
              .dump());
    }
    auto msg = json::parse(req.body(), nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) {
      return send(resp, P::Http::Code::Bad_Request,
                  R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})");
    }
    if (!msg.contains("id")) return send(resp, P::Http::Code::Accepted, "");  // a notification
    const std::string method = msg.value("method", "");
    json result;
    if (method == "initialize") {
      result = {{"protocolVersion", msg["params"].value("protocolVersion", "2025-06-18")},
                {"capabilities", {{"tools", json::object()}}},
                {"serverInfo", {{"name", "example-cpp-mcp-server"}, {"version", "1.0.0"}}}};
    } else if (method == "tools/list") {
      result = {{"tools",
                 {{{"name", "whoami"},
                   {"description", "Who the broker says you are"},
                   {"inputSchema", {{"type", "object"}, {"properties", json::object()}}}}}}};
    } else if (method == "tools/call" && msg["params"].value("name", "") == "whoami") {
      std::string who =
          v.claims.preferred_username.empty() ? v.claims.sub : v.claims.preferred_username;
      result = {
          {"content",
           {{{"type", "text"},
             {"text", "You are " + who + " (" + v.claims.sub + ") via " + v.claims.client_id}}}}};
    } else if (method == "ping") {
      result = json::object();
    } else {
      json err = {{"jsonrpc", "2.0"},
                  {"id", msg["id"]},
                  {"error", {{"code", -32601}, {"message", "method not found"}}}};
      return send(resp, P::Http::Code::Ok, err.dump());
    }
    send(resp, P::Http::Code::Ok,
         json({{"jsonrpc", "2.0"}, {"id", msg["id"]}, {"result", result}}).dump());
  }

 private:
  std::string resourcePath() const {
    const size_t p = settings_.resource.find('/', settings_.resource.find("://") + 3);
    return p == std::string::npos ? "/" : settings_.resource.substr(p);
  }
  static void send(P::Http::ResponseWriter& resp, P::Http::Code code, const std::string& body) {
    resp.headers().add<P::Http::Header::ContentType>(MIME(Application, Json));
    resp.send(code, body);
  }

  Settings settings_;
  std::shared_ptr<mcp_auth::Verifier> verifier_;
};

constexpr const char* kUsage =
    "usage: example_mcp_server --listen HOST:PORT --issuer URL --resource URL --scope SCOPE\n"
    "\n"
    "An MCP server (POST /mcp, tool \"whoami\") that accepts only access tokens that\n"
    "mcp-auth-broker minted for it.\n"
    "\n"
    "  --listen HOST:PORT  where to listen (default 127.0.0.1:9000)\n"
    "  --issuer URL        the broker's issuer; its JWKS is read from there\n"
    "  --resource URL      this server's resource URL, the audience tokens must carry\n"
    "  --scope SCOPE       the scope every request needs, e.g. mcp:localhost:demo\n"
    "  -h, --help          print this help and exit\n";

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "example_mcp_server: " << problem << "\n" << kUsage;
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  std::string listen = "127.0.0.1:9000";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) usage("missing value for " + arg);
    std::string value = argv[++i];
    if (arg == "--listen") {
      listen = value;
    } else if (arg == "--issuer") {
      s.issuer = value;
    } else if (arg == "--resource") {
      s.resource = value;
    } else if (arg == "--scope") {
      s.scope = value;
    } else {
      usage("unknown option " + arg);
    }
  }
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) usage("--listen must be HOST:PORT");
  s.host = listen.substr(0, colon);
  s.port = std::atoi(listen.c_str() + colon + 1);
  if (s.issuer.empty() || s.resource.empty() || s.scope.empty() || s.port <= 0 || s.port > 65535) {
    usage("--issuer, --resource, --scope and a valid --listen are required");
  }

  mcp_auth::VerifierOptions o;
  o.issuer = s.issuer;
  o.resource = s.resource;
  o.resource_metadata_url = origin(s.resource) + metadataPath(s.resource);
  o.required_scopes = {s.scope};
  // A broker on a loopback development issuer serves its JWKS over plain HTTP.
  o.http.allow_http =
      s.issuer.rfind("http://127.0.0.1", 0) == 0 || s.issuer.rfind("http://localhost", 0) == 0;
  std::shared_ptr<mcp_auth::Verifier> verifier;
  try {
    verifier = mcp_auth::Verifier::create(o);
  } catch (const std::exception& e) {
    usage(e.what());
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  P::Http::Endpoint endpoint(P::Address(s.host, P::Port(static_cast<uint16_t>(s.port))));
  endpoint.init(P::Http::Endpoint::options()
                    .threads(1)
                    .flags(P::Tcp::Options::ReuseAddr | P::Tcp::Options::CloseOnExec)
                    .maxRequestSize(64 * 1024));
  endpoint.setHandler(std::make_shared<McpHandler>(s, verifier));
  try {
    endpoint.serveThreaded();
  } catch (const std::exception& e) {
    std::cerr << "example_mcp_server: cannot listen on " << listen << ": " << e.what() << "\n";
    return 1;
  }
  std::cout << "example_mcp_server listening on " << listen << "\n" << std::flush;
  int received = 0;
  sigwait(&stop_signals, &received);
  endpoint.shutdown();
  return 0;
}
