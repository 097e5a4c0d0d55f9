// HTTP/1.1 server on Pistache (RFC 9112). Pistache accepts connections, reads bytes and runs the
// timeout sweep; requests are framed here (RequestFramer) and everything a client can observe
// (framing, routing, persistence, errors, headers) is decided here.

#include "broker/http/server.h"

#include <arpa/inet.h>
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include "broker/core/broker_metrics.h"
#include "broker/core/encoding.h"
#include "broker/core/log.h"
#include "broker/core/random.h"
#include "http/header_policy.h"
#include "http/rate_limiter.h"
#include "http/request_framer.h"
#include "http/request_head.h"
#include "http/response_wire.h"
#include "http/strings.h"
#include "http/worker_pool.h"

namespace broker::http {
namespace {

namespace P = Pistache;
using Clock = std::chrono::steady_clock;

constexpr const char* kConnectionKey = "broker.connection";

// Inside a Pistache handler class, plain `Handler` names Pistache's base class.
using RouteHandler = Handler;

struct Connection;

// What the reactor thread and a worker share about one connection's answers, so that answers
// leave in the order of the requests.
struct AnswerState {
  // Answers handed to Pistache's write queue and not yet written. While there are any, later
  // answers queue behind them instead of being written directly.
  std::atomic<int> queued{0};
  // A worker is answering this connection's request. When more input arrives meanwhile (a
  // pipelining client), that answer closes the connection instead of being overtaken by an
  // answer to the later request; the client sends what was not answered again (RFC 9112 §9.3.2).
  enum : int { kIdle, kAtWorker, kCloseAfter };
  std::atomic<int> worker{kIdle};
};

// Open connections, so stop() can close the idle keep-alive ones: Pistache 0.0.5 would leave
// their sockets open forever once its reactors are gone.
struct ConnectionRegistry {
  std::mutex mutex;
  std::condition_variable cv;
  uint64_t next_id = 0;
  std::map<uint64_t, std::weak_ptr<Connection>> open;
  size_t admitted = 0;  // open connections within server.max_connections
};

// Pistache's timeout sweep reads the start time and the step of the parser stored under
// Handler::ParserData: the header timeout while the step is the request line or the headers, the
// body timeout once it is the body, the keep-alive timeout while the peer is idle. This parser is
// never fed (RequestFramer frames the bytes); it only keeps that time and step for the sweep.
class RequestTimer final : public P::Http::RequestParser {
 public:
  RequestTimer() : P::Http::RequestParser(0) {}
  // The first byte of a request arrived: the header timeout runs from now.
  void startRequest() { reset(); }
  // The head is complete: the body timeout applies (step 2 is Pistache's BodyStep).
  void headDone() { currentStep = 2; }
};

// Per TCP connection, owned by the Pistache peer (destroyed when Pistache drops the peer).
struct Connection {
  Connection(size_t max_request_size, std::shared_ptr<ConnectionRegistry> reg)
      : framer(max_request_size), registry(std::move(reg)) {}

  ~Connection() {
    {
      std::lock_guard<std::mutex> lock(registry->mutex);
      registry->open.erase(id);
      if (admitted) --registry->admitted;
    }
    registry->cv.notify_all();
  }

  static std::shared_ptr<Connection> open(size_t max_request_size, size_t max_connections,
                                          std::shared_ptr<ConnectionRegistry> registry,
                                          const std::shared_ptr<P::Tcp::Peer>& peer,
                                          P::Tcp::Transport* transport) {
    auto conn = std::make_shared<Connection>(max_request_size, registry);
    conn->peer = peer;
    conn->transport = transport;
    std::lock_guard<std::mutex> lock(registry->mutex);
    conn->id = registry->next_id++;
    registry->open.emplace(conn->id, conn);
    conn->admitted = registry->admitted < max_connections;
    if (conn->admitted) ++registry->admitted;
    return conn;
  }

  void nextRequest() {
    framer.next();
    continue_sent = false;
  }

  std::shared_ptr<RequestTimer> timer = std::make_shared<RequestTimer>();
  RequestFramer framer;
  bool continue_sent = false;  // "100 Continue" sent for the current request
  bool closing = false;        // answered with Connection: close; later bytes are ignored
  bool admitted = false;       // counted against server.max_connections

  std::shared_ptr<ConnectionRegistry> registry;
  std::shared_ptr<AnswerState> answers = std::make_shared<AnswerState>();
  uint64_t id = 0;
  std::weak_ptr<P::Tcp::Peer> peer;
  P::Tcp::Transport* transport = nullptr;
};

// Runs `fn` on the reactor thread that owns `transport`. A continuation attached to a promise
// after its work was queued may run on the attaching thread (the reactor can finish first), so
// this goes through a one-shot timer whose continuation is attached before the timer is armed.
void runOnReactor(P::Tcp::Transport* transport, std::function<void()> fn) {
  int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    log::warn("http.timerfd_failed", {{"errno", errno}});
    return;
  }
  // Closed when Pistache drops the timer entry, whether it fired or the transport went away.
  auto timer = std::shared_ptr<void>(nullptr, [fd](void*) { ::close(fd); });
  P::Async::Deferred<uint64_t> deferred;
  P::Async::Promise<uint64_t> fired(
      [&](P::Async::Deferred<uint64_t> d) { deferred = std::move(d); });
  fired.then([timer, fn = std::move(fn)](uint64_t) { fn(); }, [timer](std::exception_ptr) {});
  transport->armTimer(fd, std::chrono::milliseconds(1), std::move(deferred));
}

// On the peer's reactor thread: an empty write queues behind any answer not yet written, and its
// completion (on this thread, where the fd is sure to still be this peer's) closes the socket.
// The reactor then sees the end of input and releases the peer and its fd itself.
void closeAfterPendingWrites(const std::weak_ptr<P::Tcp::Peer>& weak) {
  auto peer = weak.lock();
  if (!peer) return;
  peer->send(P::RawBuffer(std::string(), 0))
      .then(
          [weak](ssize_t) {
            if (auto p = weak.lock()) ::shutdown(p->fd(), SHUT_RDWR);
          },
          [](std::exception_ptr) {});
}

// Counts a worker request from hand-off until its bytes are written (or dropped), so stop() can
// wait for exactly that.
struct Flights {
  std::mutex mutex;
  std::condition_variable cv;
  int count = 0;
};

class FlightToken {
 public:
  explicit FlightToken(std::shared_ptr<Flights> f) : flights_(std::move(f)) {
    std::lock_guard<std::mutex> lock(flights_->mutex);
    ++flights_->count;
  }
  ~FlightToken() { release(); }
  FlightToken(const FlightToken&) = delete;
  FlightToken& operator=(const FlightToken&) = delete;

  void release() {
    if (released_.exchange(true)) return;
    {
      std::lock_guard<std::mutex> lock(flights_->mutex);
      --flights_->count;
    }
    flights_->cv.notify_all();
  }

 private:
  std::shared_ptr<Flights> flights_;
  std::atomic<bool> released_{false};
};

// A route's meters, found once at start-up so that counting a request takes no lookup.
struct RouteMeters {
  std::array<metrics::Counter*, 5> by_class{};  // 1xx..5xx
  metrics::Histogram* duration = nullptr;

  RouteMeters() = default;
  RouteMeters(metrics::BrokerMetrics& m, const std::string& route) {
    static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < by_class.size(); ++i) {
      by_class[i] = &m.http_requests.with({route, kClasses[i]});
    }
    duration = &m.http_duration.with({route});
  }
  void count(int status, Clock::duration took) const {
    if (!duration) return;
    const int c = status / 100;
    by_class[c >= 1 && c <= 5 ? c - 1 : 4]->inc();
    duration->observe(took);
  }
};

struct Shared {
  Shared(const ServerOptions& o, Router r)
      : options(o),
        router(std::move(r)),
        random(o.random ? *o.random : Random::system()),
        limiter(o.rate_limits, RateLimiter::steadySeconds) {
    if (o.metrics) {
      for (const std::string& path : router.paths()) route_meters.emplace_back(*o.metrics, path);
      // Requests no route took: 404, 405, preflights and requests that could not be read.
      unmatched = RouteMeters(*o.metrics, "unmatched");
    }
    for (const std::string& p : o.trusted_proxies) {
      auto cidr = Cidr::parse(p);
      if (!cidr) throw std::invalid_argument("not an address or network: " + p);
      trusted_proxies.push_back(*cidr);
    }
    uint8_t seed[8];
    random.fill(seed, sizeof seed);
    for (uint8_t b : seed) request_id_base = (request_id_base << 8) | b;
  }

  // Request ids only correlate log lines: a random per-process base plus a counter is unique
  // without a trip through the DRBG on every request.
  std::string nextRequestId() {
    const uint64_t v = request_id_base + request_seq.fetch_add(1, std::memory_order_relaxed);
    uint8_t id[8];
    for (int i = 0; i < 8; ++i) id[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
    return hexEncode(std::string_view(reinterpret_cast<const char*>(id), sizeof id));
  }

  const ServerOptions options;
  const Router router;
  std::vector<RouteMeters> route_meters;  // by route index; empty when not measured
  RouteMeters unmatched;
  Random& random;
  RateLimiter limiter;
  std::vector<Cidr> trusted_proxies;
  uint64_t request_id_base = 0;
  std::atomic<uint64_t> request_seq{0};
  std::unique_ptr<WorkerPool> pool;
  std::atomic<bool> draining{false};
  std::shared_ptr<Flights> flights = std::make_shared<Flights>();
  std::shared_ptr<ConnectionRegistry> connections = std::make_shared<ConnectionRegistry>();
  // Workers write through the Pistache transport only while this is open; stop() closes it
  // before the transport goes away.
  std::shared_mutex gate;
  bool gate_open = true;
};

// One request and the means to answer it; moves to a worker for non-inline routes.
struct Exchange {
  Request req;
  bool keep_alive = true;
  bool http10 = false;
  RouteFlags flags = RouteFlags::kNone;
  bool cors = false;
  Clock::time_point start = Clock::now();
  std::weak_ptr<P::Tcp::Peer> peer;
  P::Tcp::Transport* transport = nullptr;
  std::shared_ptr<AnswerState> answers;  // the connection's
  std::thread::id reactor = std::this_thread::get_id();
  const RouteMeters* meters = nullptr;  // the route's; nullptr = unmatched
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// The answer to work refused because no worker can take it: HTML on the browser's endpoints.
Response busyResponse(RouteFlags flags) {
  return serviceUnavailable(1, has(flags, RouteFlags::kRateBrowser));
}

// Runs a handler; one that throws is logged and answered with `fallback()`.
template <class Call, class Fallback>
auto callLogged(const Request& req, Call&& call, Fallback&& fallback) -> decltype(call()) {
  try {
    return call();
  } catch (const std::exception& e) {
    log::error("http.handler_exception",
               {{"request_id", req.request_id}, {"path", req.path}, {"what", e.what()}});
  } catch (...) {
    log::error("http.handler_exception",
               {{"request_id", req.request_id}, {"path", req.path}, {"what", "unknown"}});
  }
  return fallback();
}

Response callHandler(const Handler& handler, const Request& req) {
  return callLogged(
      req, [&] { return handler(req); }, [] { return errorResponse(OAuthCode::kServerError); });
}

// A fast handler that throws has no answer; the full handler gets its turn on a worker.
std::optional<Response> callFastHandler(const Router::FastHandler& fast, const Request& req) {
  return callLogged(
      req, [&] { return fast(req); }, [] { return std::optional<Response>(); });
}

// Writes the answer. Runs on the reactor thread, or on a worker holding the shared gate.
void finish(const Shared& shared, Exchange& ex, Response r,
            std::shared_ptr<FlightToken> token = nullptr) {
  if (r.status < 100 || r.status > 599 || !headersWellFormed(r)) {
    log::error("http.bad_response", {{"request_id", ex.req.request_id}, {"path", ex.req.path}});
    r = errorResponse(OAuthCode::kServerError);
  }
  applyHeaderPolicy(r, ex.flags, ex.cors, ex.req.request_id);
  (ex.meters ? *ex.meters : shared.unmatched).count(r.status, Clock::now() - ex.start);
  if (shared.options.access_log) {
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - ex.start).count();
    // Never the query string: it can carry codes and tokens. Deferred: the access line of every
    // request goes out in batches, within about a millisecond.
    log::deferred(log::Level::kInfo, "http",
                  {{"method", ex.req.method.empty() ? "-" : ex.req.method},
                   {"path", ex.req.path.empty() ? "-" : ex.req.path},
                   {"status", r.status},
                   {"duration_us", static_cast<int64_t>(us)},
                   {"request_id", ex.req.request_id},
                   {"remote_ip", ex.req.remote_ip},
                   {"bytes", static_cast<int64_t>(r.body.size())}});
  }

  bool close = !ex.keep_alive;
  AnswerState& answers = *ex.answers;
  const bool from_worker = token != nullptr;
  auto target = ex.peer.lock();
  // Answered: until the first byte of its next request arrives, the connection is idle and
  // Pistache's sweep holds it to the keep-alive timeout. Marked before a worker lets go of the
  // connection, so that it cannot undo the reactor marking a next request as started.
  if (target) target->setIdle(true);
  if (from_worker) {
    // Counted as queued before the worker lets go of the connection, so that a request the
    // reactor reads next is answered behind this one.
    answers.queued.fetch_add(1);
    if (answers.worker.exchange(AnswerState::kIdle) == AnswerState::kCloseAfter) close = true;
  }
  if (!target) {
    if (from_worker) answers.queued.fetch_sub(1);
    if (token) token->release();
    return;
  }
  std::string wire = serializeResponse(r, WireFraming{close, ex.http10, ex.req.method == "HEAD"});
  size_t written = 0;
  // On the connection's own reactor thread, with nothing of ours in Pistache's queue, the answer
  // goes straight to the socket: Pistache's queue costs an eventfd round trip and two epoll_ctl
  // calls per answer. Whatever the socket does not take at once goes through the queue.
  if (!from_worker && std::this_thread::get_id() == ex.reactor && answers.queued.load() == 0) {
    ssize_t n = ::send(target->fd(), wire.data(), wire.size(), MSG_NOSIGNAL);
    // A reactor answer holds no flight token: nothing to release on these returns.
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return;  // the peer is gone; Pistache sees the hang-up on its next read and drops it
    }
    written = n > 0 ? static_cast<size_t>(n) : 0;
    if (written == wire.size()) {
      if (close) ::shutdown(target->fd(), SHUT_WR);
      return;
    }
  }
  if (!from_worker) answers.queued.fetch_add(1);
  const size_t size = wire.size() - written;
  target->send(P::RawBuffer(written == 0 ? std::move(wire) : wire.substr(written), size))
      .then(
          [token, close, state = ex.answers, peer = ex.peer, reactor = ex.reactor,
           transport = ex.transport](ssize_t) {
            state->queued.fetch_sub(1);
            if (close) {
              auto end = [peer] {
                if (auto p = peer.lock()) ::shutdown(p->fd(), SHUT_WR);
              };
              // Here off the reactor only when a worker's write completed before this
              // continuation was attached; the worker still holds the gate, so the transport
              // is alive.
              if (std::this_thread::get_id() == reactor) {
                end();
              } else {
                runOnReactor(transport, end);
              }
            }
            if (token) token->release();
          },
          [token, state = ex.answers](std::exception_ptr) {
            state->queued.fetch_sub(1);
            if (token) token->release();
          });
}

class PistacheHandler final : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)

  explicit PistacheHandler(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  // Input is taken apart in onInput below, which never calls this.
  void onRequest(const P::Http::Request&, P::Http::ResponseWriter response) override {
    response.send(P::Http::Code::Internal_Server_Error);
  }

  void onConnection(const std::shared_ptr<P::Tcp::Peer>& peer) override {
    const ServerOptions& o = shared_->options;
    auto conn = Connection::open(o.max_request_size, static_cast<size_t>(o.max_connections),
                                 shared_->connections, peer, transport());
    // Pistache's timeout sweep finds the timer under its parser's key.
    peer->putData(ParserData, conn->timer);
    peer->putData(kConnectionKey, conn);
    if (!conn->admitted) refuseConnection(*conn, peer);
  }

  // Replaces Pistache's own onInput, which answers every request lacking a Connection header
  // with "Connection: Close" (so clients reconnect for each request), answers parse errors in
  // plain text, keeps parsing the rest of an oversize body as new requests, and frames chunked
  // bodies loosely (it stops at "0\r\n" and leaves the trailer section unread). Every byte is
  // framed by RequestFramer instead.
  void onInput(const char* data, size_t len, const std::shared_ptr<P::Tcp::Peer>& peer) override {
    auto conn = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionKey));
    if (!conn || conn->closing) return;
    if (conn->answers->worker.load() != AnswerState::kIdle) {
      int at_worker = AnswerState::kAtWorker;
      if (conn->answers->worker.compare_exchange_strong(at_worker, AnswerState::kCloseAfter) ||
          at_worker == AnswerState::kCloseAfter) {
        conn->closing = true;  // pipelined: the answer being made closes the connection
        return;
      }
      // The worker has just let go of the connection: its answer is queued, this one goes after.
    }
    RequestFramer& framer = conn->framer;
    if (framer.idle()) {
      // The first byte of a request, on a new or a kept-alive connection: the header timeout
      // runs from here, not the keep-alive timeout.
      conn->timer->startRequest();
      peer->setIdle(false);
    }
    switch (framer.feed(std::string_view(data, len))) {
      case RequestFramer::Status::kNeedMore:
        if (framer.headComplete()) headComplete(*conn, peer);
        return;
      case RequestFramer::Status::kError:
        return reject(*conn, peer,
                      framer.error().refusal == RequestFramer::Refusal::kTooLarge
                          ? OAuthCode::kPayloadTooLarge
                          : OAuthCode::kInvalidRequest,
                      framer.error().message);
      case RequestFramer::Status::kRequest:
        dispatch(*conn, peer);
        conn->nextRequest();
        return;
    }
  }

 private:
  // The head is in and the body is on its way.
  void headComplete(Connection& c, const std::shared_ptr<P::Tcp::Peer>& peer) {
    c.timer->headDone();
    if (c.framer.head().expect_continue && !c.continue_sent) {
      c.continue_sent = true;
      // Without this, curl waits a second before sending a body it announced.
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      peer->send(P::RawBuffer(kContinue, kContinue.size()));
    }
  }

  // Over server.max_connections: a 503 that says to come back, then the connection closes. The
  // header timeout bounds how long the refused connection may linger before the client closes.
  void refuseConnection(Connection& c, const std::shared_ptr<P::Tcp::Peer>& peer) {
    log::deferred(log::Level::kWarn, "http.connection_refused",
                  {{"max_connections", static_cast<int64_t>(shared_->options.max_connections)}});
    Response busy = errorResponse(OAuthCode::kTemporarilyUnavailable, "too many connections");
    busy.header("Retry-After", "1");
    reject(c, peer, std::move(busy));
    c.timer->startRequest();
    peer->setIdle(false);
  }

  std::shared_ptr<Exchange> newExchange(Connection& c, const std::shared_ptr<P::Tcp::Peer>& peer) {
    auto ex = std::make_shared<Exchange>();
    ex->req = std::move(c.framer.request());
    ex->req.remote_ip = clientAddress(peer->address().host(), ex->req.header("x-forwarded-for"),
                                      shared_->trusted_proxies, shared_->options.trust_proxy);
    ex->req.request_id = shared_->nextRequestId();
    ex->http10 = c.framer.head().http10;
    ex->keep_alive = c.framer.head().keep_alive;
    ex->peer = peer;
    ex->transport = transport();
    ex->answers = c.answers;
    return ex;
  }

  // Answers a request that could not be read, then stops reading this connection.
  void reject(Connection& c, const std::shared_ptr<P::Tcp::Peer>& peer, OAuthCode code,
              const std::string& description) {
    reject(c, peer, errorResponse(code, description));
  }
  void reject(Connection& c, const std::shared_ptr<P::Tcp::Peer>& peer, Response answer) {
    auto ex = newExchange(c, peer);
    ex->keep_alive = false;
    c.closing = true;
    finish(*shared_, *ex, std::move(answer));
  }

  void dispatch(Connection& c, const std::shared_ptr<P::Tcp::Peer>& peer) {
    auto ex = newExchange(c, peer);
    // Bytes beyond this request are a pipelined next one: this answer closes the connection and
    // the client sends the rest again (answers could otherwise leave out of order). The same
    // holds for any framing bytes left over.
    if (c.framer.buffered() > 0) ex->keep_alive = false;
    if (!ex->keep_alive) c.closing = true;
    peer->setIdle(false);
    route(ex, peer);
  }

  bool underCorsPrefix(const std::string& path) const {
    const auto& prefixes = shared_->options.cors_prefixes;
    return std::any_of(prefixes.begin(), prefixes.end(),
                       [&](const std::string& p) { return path.rfind(p, 0) == 0; });
  }

  void route(const std::shared_ptr<Exchange>& ex, const std::shared_ptr<P::Tcp::Peer>& peer) {
    Request& req = ex->req;
    Router::Match m = shared_->router.match(req.method, req.path);
    if (m.found()) {
      ex->flags = m.flags;
      ex->cors = has(m.flags, RouteFlags::kCors);
      if (m.route >= 0 && static_cast<size_t>(m.route) < shared_->route_meters.size()) {
        ex->meters = &shared_->route_meters[static_cast<size_t>(m.route)];
      }
      if (auto refused = rateLimited(m.flags, req))
        return finish(*shared_, *ex, std::move(*refused));
      req.path_params = std::move(m.params);
      if (m.async) return post(ex, nullptr, m.async, peer);
      if (has(m.flags, RouteFlags::kInline)) {
        return finish(*shared_, *ex, callHandler(*m.handler, req));
      }
      if (m.fast) {
        if (auto answer = callFastHandler(*m.fast, req)) {
          return finish(*shared_, *ex, std::move(*answer));
        }
      }
      return post(ex, m.handler, nullptr, peer);
    }
    ex->cors = has(m.path_flags, RouteFlags::kCors) || underCorsPrefix(req.path);
    if (req.method == "OPTIONS" && ex->cors) {
      std::vector<std::string> methods = m.allowed_methods;
      if (methods.empty()) methods.push_back("GET");
      auto requested = req.header("access-control-request-headers").value_or("");
      return finish(*shared_, *ex, preflightResponse(methods, requested));
    }
    if (m.path_known) {
      Response r = errorResponse(OAuthCode::kMethodNotAllowed, "method not allowed");
      if (ex->cors) m.allowed_methods.push_back("OPTIONS");
      r.header("Allow", join(m.allowed_methods));
      return finish(*shared_, *ex, std::move(r));
    }
    finish(*shared_, *ex, errorResponse(OAuthCode::kNotFound, "no such endpoint"));
  }

  // A 429 with Retry-After when the client address has used up its bucket for the route's group.
  std::optional<Response> rateLimited(RouteFlags flags, const Request& req) {
    static constexpr std::pair<RouteFlags, RateGroup> kGroups[] = {
        {RouteFlags::kRateRegister, RateGroup::kRegister},
        {RouteFlags::kRateBrowser, RateGroup::kBrowser},
        {RouteFlags::kRateToken, RateGroup::kToken},
        {RouteFlags::kRateInspect, RateGroup::kInspect},
        {RouteFlags::kRateValidate, RateGroup::kValidate}};
    for (const auto& [flag, group] : kGroups) {
      if (!has(flags, flag)) continue;
      auto wait = shared_->limiter.admit(group, rateKey(req.remote_ip));
      if (!wait) return std::nullopt;
      if (auto* m = shared_->options.metrics) {
        m->rate_limited.with({kRateGroupNames[static_cast<size_t>(group)]}).inc();
      }
      log::deferred(log::Level::kWarn, "http.rate_limited",
                    {{"remote_ip", req.remote_ip}, {"path", req.path}, {"retry_after", *wait}});
      return tooManyRequests(*wait, group == RateGroup::kBrowser);
    }
    return std::nullopt;
  }

  // Exactly one of `handler` and `async` is set.
  void post(const std::shared_ptr<Exchange>& ex, const RouteHandler* handler,
            const AsyncHandler* async, const std::shared_ptr<P::Tcp::Peer>& peer) {
    if (!shared_->draining) {
      auto token = std::make_shared<FlightToken>(shared_->flights);
      // A worker answer is bounded by the keep-alive timeout instead of the header timeout,
      // which Pistache would otherwise apply (with a 408) to a request it considers in progress.
      peer->setIdle(true);
      ex->answers->worker.store(AnswerState::kAtWorker);
      WorkerPool::Job job;
      if (async) {
        job = [shared = shared_, ex, async, token]() {
          auto pending = std::make_shared<PendingAnswer>(shared, ex, token);
          Respond respond = [pending](Response r) { pending->answer(std::move(r)); };
          callLogged(
              ex->req, [&] { (*async)(ex->req, std::move(respond)); },
              [&] { pending->answer(errorResponse(OAuthCode::kServerError)); });
        };
      } else {
        job = [shared = shared_, ex, handler, token]() {
          Response r = callHandler(*handler, ex->req);
          answerFromWorker(*shared, *ex, std::move(r), token);
        };
      }
      if (shared_->pool->tryPost(std::move(job))) return;
      ex->answers->worker.store(AnswerState::kIdle);
      log::deferred(log::Level::kWarn, "http.shed",
                    {{"path", ex->req.path}, {"queue_limit", shared_->options.queue_limit}});
    }
    // Shed at once rather than queue: the client learns now, not after the queue drains.
    finish(*shared_, *ex, busyResponse(ex->flags));
  }

  // Off the reactor: writes only while the transport is there (stop() closes the gate first).
  static void answerFromWorker(Shared& shared, Exchange& ex, Response r,
                               const std::shared_ptr<FlightToken>& token) {
    std::shared_lock<std::shared_mutex> lock(shared.gate);
    if (shared.gate_open) finish(shared, ex, std::move(r), token);
  }

  // The one answer of an async handler, from whichever thread gives it; a handler that drops it
  // unanswered (its own pool refused or dropped the work) still answers, with a 503.
  class PendingAnswer {
   public:
    PendingAnswer(std::shared_ptr<Shared> shared, std::shared_ptr<Exchange> ex,
                  std::shared_ptr<FlightToken> token)
        : shared_(std::move(shared)), ex_(std::move(ex)), token_(std::move(token)) {}
    ~PendingAnswer() {
      if (answered_.load()) return;
      answer(busyResponse(ex_->flags));
    }
    PendingAnswer(const PendingAnswer&) = delete;
    PendingAnswer& operator=(const PendingAnswer&) = delete;

    void answer(Response r) {
      if (answered_.exchange(true)) return;
      answerFromWorker(*shared_, *ex_, std::move(r), token_);
    }

   private:
    std::shared_ptr<Shared> shared_;
    std::shared_ptr<Exchange> ex_;
    std::shared_ptr<FlightToken> token_;
    std::atomic<bool> answered_{false};
  };

  std::shared_ptr<Shared> shared_;
};

class PistacheServer final : public Server {
 public:
  PistacheServer(const ServerOptions& options, Router router)
      : shared_(std::make_shared<Shared>(options, std::move(router))) {}

  ~PistacheServer() override { stop(0); }

  void start() override {
    if (started_) throw std::logic_error("http server already started");
    started_ = true;
    const ServerOptions& o = shared_->options;
    shared_->pool = std::make_unique<WorkerPool>(o.workers, static_cast<size_t>(o.queue_limit));
    auto endpoint = std::make_unique<P::Http::Endpoint>(P::Address(o.host, P::Port(o.port)));
    auto opts = P::Http::Endpoint::options()
                    .threads(o.threads > 0 ? o.threads : 1)
                    .flags(P::Tcp::Options::ReuseAddr | P::Tcp::Options::NoDelay |
                           P::Tcp::Options::CloseOnExec)
                    .maxRequestSize(o.max_request_size)
                    .headerTimeout(std::chrono::milliseconds(o.header_timeout_ms))
                    .bodyTimeout(std::chrono::milliseconds(o.body_timeout_ms))
                    .keepaliveTimeout(std::chrono::milliseconds(o.keepalive_timeout_ms));
    endpoint->init(opts);
    endpoint->setHandler(std::make_shared<PistacheHandler>(shared_));
    try {
      endpoint->serveThreaded();
    } catch (const std::exception& e) {
      shared_->pool->shutdown(Clock::now());
      throw std::runtime_error("http: cannot listen on " + o.host + ":" + std::to_string(o.port) +
                               ": " + e.what());
    }
    endpoint_ = std::move(endpoint);
    port_ = static_cast<uint16_t>(endpoint_->getPort());
    running_ = true;
    if (auto* m = o.metrics) {
      std::weak_ptr<Shared> weak = shared_;
      m->worker_queue_depth.set([weak]() -> std::optional<double> {
        auto s = weak.lock();
        if (!s || !s->pool) return std::nullopt;
        return static_cast<double>(s->pool->queued());
      });
      // Under the registry's mutex, which is held only while a connection opens or closes.
      m->connections_open.set([weak]() -> std::optional<double> {
        auto s = weak.lock();
        if (!s) return std::nullopt;
        std::lock_guard<std::mutex> lock(s->connections->mutex);
        return static_cast<double>(s->connections->open.size());
      });
    }
    log::info("http.listening", {{"host", o.host}, {"port", static_cast<int>(port_)}});
  }

  uint16_t port() const override { return port_; }

  void stop(int drain_ms) override {
    if (!running_) return;
    running_ = false;
    const auto deadline = Clock::now() + std::chrono::milliseconds(drain_ms > 0 ? drain_ms : 0);
    shared_->draining = true;
    bool drained;
    {
      Flights& f = *shared_->flights;
      std::unique_lock<std::mutex> lock(f.mutex);
      drained = f.cv.wait_until(lock, deadline, [&] { return f.count == 0; });
    }
    {
      std::unique_lock<std::shared_mutex> lock(shared_->gate);
      shared_->gate_open = false;
    }
    closeConnections(std::chrono::milliseconds(1000));
    endpoint_->shutdown();
    endpoint_.reset();
    const bool joined = shared_->pool->shutdown(deadline);
    if (!drained || !joined) {
      log::warn("http.stop_incomplete", {{"drained", drained}, {"workers_joined", joined}});
    }
    log::info("http.stopped", {{"port", static_cast<int>(port_)}});
  }

 private:
  // Closes every open connection (answers already queued go out first) and waits, up to
  // `limit`, for the reactors to release them.
  void closeConnections(std::chrono::milliseconds limit) {
    ConnectionRegistry& reg = *shared_->connections;
    std::vector<std::shared_ptr<Connection>> open;
    {
      std::lock_guard<std::mutex> lock(reg.mutex);
      for (const auto& entry : reg.open) {
        if (auto c = entry.second.lock()) open.push_back(std::move(c));
      }
    }
    for (const auto& c : open) {
      runOnReactor(c->transport, [peer = c->peer] { closeAfterPendingWrites(peer); });
    }
    open.clear();
    std::unique_lock<std::mutex> lock(reg.mutex);
    if (!reg.cv.wait_for(lock, limit, [&] { return reg.open.empty(); })) {
      log::warn("http.connections_left_open", {{"count", static_cast<int64_t>(reg.open.size())}});
    }
  }

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<P::Http::Endpoint> endpoint_;
  bool started_ = false;
  bool running_ = false;
  uint16_t port_ = 0;
};

}  // namespace

std::unique_ptr<Server> Server::create(const ServerOptions& options, Router router) {
  // A peer that hangs up mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  return std::make_unique<PistacheServer>(options, std::move(router));
}

}  // namespace broker::http
