// Differential test of request framing: the same byte streams, cut into the same segments, go to
// the broker's RequestFramer (the code path the server frames every request with) and to Node's
// HTTP server (llhttp, tests/http-diff/llhttp_server.js) on loopback. Both must agree on whether
// the stream is accepted and on the request boundaries: how many requests, and each one's method,
// target and body. Where the broker refuses what llhttp accepts, the case says so and why, by
// RFC; such a case fails if llhttp starts refusing it too, so the list stays true.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "broker/core/encoding.h"
#include "fakes/broker_process.h"
#include "fakes/child_process.h"
#include "fakes/frame_stream.h"
#include "fakes/raw_connection.h"

namespace broker::testing {
namespace {

struct Outcome {
  std::vector<std::string> requests;  // "METHOD target hex(body)"
  bool refused = false;
  std::string detail;  // llhttp's error code, or the framer's message
};

enum class Difference {
  kNone,            // both parsers must agree
  kBrokerStricter,  // the broker refuses what llhttp accepts, for `reason`
  kBrokerLaxer,     // llhttp refuses what the broker accepts, harmless for framing by `reason`
};

struct Case {
  const char* name;
  std::vector<std::string> segments;
  Difference difference = Difference::kNone;
  const char* reason = "";
};

Outcome frameWithBroker(const std::vector<std::string>& segments) {
  const FramedStream s = frameSegments(segments);
  Outcome out;
  for (const auto& r : s.requests) {
    out.requests.push_back(r.method + " " + r.path + (r.raw_query.empty() ? "" : "?") +
                           r.raw_query + " " + hexEncode(r.body));
  }
  out.refused = s.end == FramedStream::End::kError;
  out.detail = s.error.message;
  return out;
}

std::string describe(const nlohmann::json& r) {
  return r["method"].get<std::string>() + " " + r["url"].get<std::string>() + " " +
         r["body"].get<std::string>();
}

// Answers from the Node server, in order: a 200 per framed request, then a 400 if it refused the
// rest, which lists every request framed before. A stream that stops inside a request just ends.
Outcome frameWithLlhttp(uint16_t port, const std::vector<std::string>& segments) {
  RawConnection raw(port);
  EXPECT_TRUE(raw.connected());
  for (const auto& segment : segments) {
    raw.send(segment);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // separate reads on the server
  }
  raw.shutdownWrite();
  Outcome out;
  while (true) {
    const std::string answer = raw.readResponse(5000);
    if (answer.empty()) break;
    const size_t head_end = answer.find("\r\n\r\n");
    auto j = nlohmann::json::parse(answer.substr(head_end + 4), nullptr, false);
    if (answer.rfind("HTTP/1.1 200", 0) == 0) {
      out.requests.push_back(describe(j));
      continue;
    }
    if (j.is_object() && j.contains("error")) {  // a refusal by llhttp
      out.requests.clear();
      for (const auto& r : j["requests"]) out.requests.push_back(describe(r));
      out.detail = j["error"].get<std::string>();
    } else {  // a refusal by Node's server after llhttp (a missing Host)
      out.detail = answer.substr(0, answer.find("\r\n"));
    }
    out.refused = true;
    break;
  }
  return out;
}

const std::string kChunked = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::string kGet = "GET /g?q=1 HTTP/1.1\r\nHost: h\r\n\r\n";

std::vector<Case> cases() {
  return {
      {"content_length", {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"}},
      {"content_length_split",
       {"POST /p HTTP/1.1\r\nHo", "st: h\r\nContent-Length: 5\r\n\r", "\nhe", "llo"}},
      {"content_length_zero", {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"}},
      {"get_and_http10", {kGet, "GET /ten HTTP/1.0\r\n\r\n"}},
      {"chunked", {kChunked + "5\r\nhello\r\n3\r\n, w\r\n0\r\n\r\n"}},
      {"chunked_extensions", {kChunked + "5;a=b;c=\"d; \\\"e\"\r\nhello\r\n0;last\r\n\r\n"}},
      {"chunked_extension_whitespace",
       {kChunked + "5 ;a = b\t; c\r\nhello\r\n0\r\n\r\n"},
       Difference::kBrokerLaxer,
       "RFC 9112 §7.1.1 allows BWS around ';' and '=' in chunk extensions, and RFC 9110 §5.6.3 "
       "says a recipient MUST parse and remove it; llhttp refuses it (HPE_STRICT). The chunk "
       "line ends at the same CRLF for both, and a proxy that refuses it never forwards it"},
      {"chunked_trailers", {kChunked + "5\r\nhello\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n" + kGet}},
      {"chunked_final_crlf_later", {kChunked + "5\r\nhello\r\n0\r\n", "\r\n", kGet}},
      {"chunked_every_piece_apart",
       {kChunked, "5", "\r", "\n", "hel", "lo", "\r", "\n", "0", "\r\n", "X: y\r\n", "\r", "\n"}},
      {"chunked_upper_hex", {kChunked + "A\r\n0123456789\r\n00\r\n\r\n"}},
      {"pipelined",
       {kGet + "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok" + kChunked +
        "1\r\nx\r\n0\r\n\r\n" + kGet}},
      {"pipelined_second_bad", {kGet + "GET /bad\x01 HTTP/1.1\r\nHost: h\r\n\r\n"}},
      {"incomplete_body", {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nshort"}},
      {"incomplete_chunked", {kChunked + "5\r\nhello\r\n"}},
      {"chunk_size_0x", {kChunked + "0xf\r\n" + std::string(15, 'a') + "\r\n0\r\n\r\n"}},
      {"chunk_size_plus", {kChunked + "+f\r\n" + std::string(15, 'a') + "\r\n0\r\n\r\n"}},
      {"chunk_size_leading_space", {kChunked + " f\r\n" + std::string(15, 'a') + "\r\n0\r\n\r\n"}},
      {"chunk_size_negative", {kChunked + "-1\r\na\r\n0\r\n\r\n"}},
      {"chunk_data_without_crlf", {kChunked + "3\r\nabcXY0\r\n\r\n"}},
      {"chunk_data_too_long", {kChunked + "3\r\nabcd\r\n0\r\n\r\n"}},
      {"chunk_size_bare_lf", {kChunked + "3\nabc\r\n0\r\n\r\n"}},
      {"te_and_content_length",
       {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n"}},
      {"te_not_chunked", {"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ch\r\n\r\nabc"}},
      {"te_chunked_not_final",
       {"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n"}},
      {"content_length_not_digits",
       {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello"}},
      {"duplicate_content_length_differs",
       {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"}},
      {"obs_fold", {"GET /g HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"}},
      {"space_before_colon", {"GET /g HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n"}},
      {"bare_cr_in_value", {"GET /g HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"}},
      {"nul_in_value", {std::string("GET /g HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 36)}},
      {"control_in_target", {"GET /g\x01 HTTP/1.1\r\nHost: h\r\n\r\n"}},
      {"space_in_target", {"GET /g h HTTP/1.1\r\nHost: h\r\n\r\n"}},
      {"missing_host", {"GET /g HTTP/1.1\r\nX: y\r\n\r\n"}},
      {"bad_version", {"GET /g HTTP/1.2\r\nHost: h\r\n\r\n"}},
      {"bare_lf_line_ends", {"GET /g HTTP/1.1\nHost: h\n\n"}},
      {"bare_lf_in_value", {"GET /g HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n"}},
      {"duplicate_content_length_same",
       {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"}},
      {"content_length_list", {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello"}},
      {"duplicate_host",
       {"GET /g HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"},
       Difference::kBrokerStricter,
       "RFC 9112 §3.2: more than one Host field line MUST get a 400"},
      {"invalid_host",
       {"GET /g HTTP/1.1\r\nHost: a b/c\r\n\r\n"},
       Difference::kBrokerStricter,
       "RFC 9112 §3.2: a Host with an invalid field value MUST get a 400"},
      {"http10_transfer_encoding",
       {"POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
       Difference::kBrokerStricter,
       "RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing"},
      {"chunk_extension_malformed", {kChunked + "3;a b\r\nabc\r\n0\r\n\r\n"}},
      {"chunk_size_then_space", {kChunked + "3 \r\nabc\r\n0\r\n\r\n"}},
      {"trailer_obs_fold", {kChunked + "3\r\nabc\r\n0\r\nX: a\r\n b\r\n\r\n"}},
      {"high_bytes_in_target", {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"}},
      {"leading_empty_line",
       {"\r\n" + kGet},
       Difference::kBrokerStricter,
       "RFC 9112 §2.2 lets a server skip empty lines before a request; refused here, since a "
       "stray CRLF only comes from a client that framed the previous body wrongly"},
      {"lower_case_method",
       {"get /g HTTP/1.1\r\nHost: h\r\n\r\n" + kGet},
       Difference::kBrokerLaxer,
       "RFC 9110 §9.1: any token is a method (case-sensitive: \"get\" is not GET) and gets a "
       "404 or 405; llhttp knows a fixed list. The body is framed by Content-Length or "
       "Transfer-Encoding whatever the method (RFC 9112 §6.3), so the boundaries are the same"},
      {"unknown_method_with_body",
       {"PURGEX /g HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab" + kGet},
       Difference::kBrokerLaxer,
       "as above"},
  };
}

class HttpFramingDiff : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (findProgram("node").empty()) return;
    port_ = freePort();
    node_ = new ChildProcess(
        {"node", std::string(BROKER_SOURCE_DIR) + "/tests/http-diff/llhttp_server.js",
         std::to_string(port_)},
        "/tmp/llhttp_server_" + std::to_string(port_) + ".log");
    if (!node_->waitForHttp("http://127.0.0.1:" + std::to_string(port_) + "/")) {
      delete node_;
      node_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }

  static inline ChildProcess* node_ = nullptr;
  static inline uint16_t port_ = 0;
};

TEST_F(HttpFramingDiff, BrokerAndLlhttpFrameTheSameRequests) {
  if (findProgram("node").empty()) GTEST_SKIP() << "node is not installed";
  ASSERT_NE(node_, nullptr) << "the llhttp reference server did not start";
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Outcome broker = frameWithBroker(c.segments);
    const Outcome llhttp = frameWithLlhttp(port_, c.segments);
    if (c.difference != Difference::kNone) {
      const bool stricter = c.difference == Difference::kBrokerStricter;
      const Outcome& refusing = stricter ? broker : llhttp;
      const Outcome& accepting = stricter ? llhttp : broker;
      EXPECT_TRUE(refusing.refused) << "no difference any more: " << c.reason;
      EXPECT_FALSE(accepting.refused)
          << "both refuse it (" << accepting.detail << "): move it to the agreeing cases";
      // Up to the refused request, both frame the same.
      ASSERT_LE(refusing.requests.size(), accepting.requests.size());
      EXPECT_EQ(refusing.requests, std::vector<std::string>(
                                       accepting.requests.begin(),
                                       accepting.requests.begin() +
                                           static_cast<std::ptrdiff_t>(refusing.requests.size())));
      continue;
    }
    EXPECT_EQ(broker.refused, llhttp.refused)
        << "broker: " << broker.detail << "; llhttp: " << llhttp.detail;
    EXPECT_EQ(broker.requests, llhttp.requests);
  }
}

}  // namespace
}  // namespace broker::testing
