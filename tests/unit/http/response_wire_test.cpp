#include "http/response_wire.h"

#include <gtest/gtest.h>

namespace broker::http {
namespace {

Response sample() {
  Response r = Response::json(200, R"({"ok":true})");
  r.header("Set-Cookie", "a=1");
  r.header("Set-Cookie", "b=2");
  return r;
}

// Everything after the Date line, which changes every second.
std::string withoutDate(const std::string& wire) {
  const size_t date = wire.find("\r\nDate: ");
  if (date == std::string::npos) return wire;
  const size_t end = wire.find("\r\n", date + 2);
  return wire.substr(0, date) + wire.substr(end);
}

TEST(ResponseWire, WritesStatusDateHeadersInOrderLengthAndBody) {
  const std::string wire = serializeResponse(sample(), {});
  EXPECT_EQ(wire.rfind("HTTP/1.1 200 OK\r\nDate: ", 0), 0u) << wire;
  EXPECT_EQ(withoutDate(wire),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            "Set-Cookie: a=1\r\n"
            "Set-Cookie: b=2\r\n"
            "Content-Length: 11\r\n"
            "\r\n"
            R"({"ok":true})");
}

TEST(ResponseWire, FramingHeadersOfTheHandlerAreDropped) {
  Response r = Response::text(200, "abc");
  r.header("content-length", "999");
  r.header("Connection", "upgrade");
  r.header("Transfer-Encoding", "chunked");
  r.header("Keep-Alive", "timeout=1");
  const std::string wire = withoutDate(serializeResponse(r, {}));
  EXPECT_EQ(wire.find("999"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("upgrade"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("chunked"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("timeout=1"), std::string::npos) << wire;
  EXPECT_NE(wire.find("\r\nContent-Length: 3\r\n\r\nabc"), std::string::npos) << wire;
}

TEST(ResponseWire, ConnectionHeaderFollowsTheFraming) {
  Response r = Response::text(200, "");
  EXPECT_EQ(serializeResponse(r, {}).find("Connection:"), std::string::npos);
  EXPECT_NE(serializeResponse(r, {true, false, false}).find("\r\nConnection: close\r\n"),
            std::string::npos);
  const std::string http10 = serializeResponse(r, {false, true, false});
  EXPECT_EQ(http10.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << http10;
  EXPECT_NE(http10.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << http10;
}

TEST(ResponseWire, NoContentAnswersCarryNoBodyAndNoLength) {
  for (int status : {100, 204, 304}) {
    Response r = Response::text(status, "ignored");
    const std::string wire = serializeResponse(r, {});
    EXPECT_EQ(wire.find("Content-Length"), std::string::npos) << status;
    EXPECT_EQ(wire.find("ignored"), std::string::npos) << status;
    EXPECT_EQ(wire.substr(wire.size() - 4), "\r\n\r\n") << status;
  }
}

TEST(ResponseWire, HeadAnswersWithTheLengthOfTheBodyItLeavesOut) {
  const std::string wire = serializeResponse(sample(), {false, false, true});
  EXPECT_NE(wire.find("\r\nContent-Length: 11\r\n\r\n"), std::string::npos) << wire;
  EXPECT_EQ(wire.substr(wire.size() - 4), "\r\n\r\n");
}

TEST(ResponseWire, UnregisteredStatusHasAnEmptyReasonPhrase) {
  Response r = Response::text(299, "");
  EXPECT_EQ(serializeResponse(r, {}).rfind("HTTP/1.1 299 \r\n", 0), 0u);
  EXPECT_STREQ(reasonPhrase(404), "Not Found");
  EXPECT_STREQ(reasonPhrase(503), "Service Unavailable");
}

TEST(ResponseWire, DateIsImfFixdate) {
  EXPECT_EQ(httpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110 §5.6.7
  EXPECT_EQ(httpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(httpDate(1798761600), "Fri, 01 Jan 2027 00:00:00 GMT");
}

}  // namespace
}  // namespace broker::http
