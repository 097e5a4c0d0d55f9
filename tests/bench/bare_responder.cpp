// The ceiling for an HTTP responder on this machine: Pistache with the broker's reactor settings
// (2 threads, the same socket options), answering a fixed small JSON body to every request with
// no routing, no headers policy, no logging. Benchmarks compare the broker's inline endpoints
// (metadata, JWKS) against it.
//
//   bench_bare_responder [--listen 127.0.0.1:PORT] [--threads 2]
//
// Runs until SIGINT or SIGTERM.

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

namespace P = Pistache;

const std::string kBody = R"({"status":"ok","service":"bare-responder"})";

class Responder final : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(Responder)

  void onRequest(const P::Http::Request& request, P::Http::ResponseWriter response) override {
    // Pistache 0.0.5 answers every request without a Connection header with "Connection: Close",
    // so clients reconnect each time. HTTP/1.1 connections are persistent by default (RFC 9112
    // §9.3); the broker keeps them open, and so does this responder, for a fair comparison.
    if (request.version() == P::Http::Version::Http11 &&
        !request.headers().tryGet<P::Http::Header::Connection>()) {
      response.headers().remove<P::Http::Header::Connection>();
    }
    response.headers().add<P::Http::Header::ContentType>(MIME(Application, Json));
    response.send(P::Http::Code::Ok, kBody);
  }
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "bench_bare_responder: " << problem
            << "\nusage: bench_bare_responder [--listen 127.0.0.1:PORT] [--threads 2]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8099";
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) usage("missing value for " + arg);
    if (arg == "--listen") {
      listen = argv[++i];
    } else if (arg == "--threads") {
      threads = std::atoi(argv[++i]);
    } else {
      usage("unknown option " + arg);
    }
  }
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || listen.substr(0, colon) != "127.0.0.1") {
    usage("--listen must be 127.0.0.1:PORT");
  }
  int port = std::atoi(listen.c_str() + colon + 1);
  if (port <= 0 || port > 65535 || threads < 1) usage("bad port or thread count");

  // Block the stop signals before Pistache starts its threads, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  P::Http::Endpoint endpoint(P::Address("127.0.0.1", P::Port(static_cast<uint16_t>(port))));
  endpoint.init(P::Http::Endpoint::options()
                    .threads(threads)
                    .flags(P::Tcp::Options::ReuseAddr | P::Tcp::Options::NoDelay |
                           P::Tcp::Options::CloseOnExec)
                    .maxRequestSize(64 * 1024));
  endpoint.setHandler(P::Http::make_handler<Responder>());
  try {
    endpoint.serveThreaded();
  } catch (const std::exception& e) {
    std::cerr << "bench_bare_responder: cannot listen on " << listen << ": " << e.what() << "\n";
    return 1;
  }
  std::cout << "bench_bare_responder listening on " << listen << " with " << threads << " threads\n"
            << std::flush;
  int received = 0;
  sigwait(&stop_signals, &received);
  endpoint.shutdown();
  return 0;
}
