// RequestFramer on bytes alone: chunked bodies (RFC 9112 §7.1), body length (§6), the head's
// line ends (§2.2), the size limit, and the same answer however the bytes are split.

#include "http/request_framer.h"

#include <gtest/gtest.h>

#include "fakes/frame_stream.h"

namespace broker::http {
namespace {

using broker::testing::FramedStream;
using broker::testing::frameSegments;
using Status = RequestFramer::Status;
using End = FramedStream::End;

const std::string kChunkedHead =
    "POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

FramedStream frame(const std::string& bytes, size_t max = 64 * 1024) {
  return frameSegments(std::vector<std::string>{bytes}, max);
}

// "method path body" of each request, for one comparison per stream.
std::vector<std::string> summary(const FramedStream& s) {
  std::vector<std::string> out;
  for (const auto& r : s.requests) out.push_back(r.method + " " + r.path + " " + r.body);
  return out;
}

TEST(RequestFramer, ReadsTheTrailerSectionAndFramesTheNextRequestAfterIt) {
  auto s = frame(kChunkedHead + "5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n" +
                 "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(s.end, End::kClean);
  EXPECT_EQ(summary(s), (std::vector<std::string>{"POST /e hello", "GET /next "}));
  EXPECT_EQ(s.requests[0].headers.count("x-trailer"), 0u);  // trailers are read and dropped
}

TEST(RequestFramer, WaitsForTheFinalCrlfInALaterSegment) {
  RequestFramer f(64 * 1024);
  EXPECT_EQ(f.feed(kChunkedHead + "5\r\nhello\r\n0\r\n"), Status::kNeedMore);
  EXPECT_TRUE(f.headComplete());
  ASSERT_EQ(f.feed("\r\n"), Status::kRequest);
  EXPECT_EQ(f.request().body, "hello");
  EXPECT_EQ(f.buffered(), 0u);
  f.next();
  EXPECT_TRUE(f.idle());
  EXPECT_EQ(f.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kRequest);
}

TEST(RequestFramer, LeftoverBytesAfterARequestAreKeptForTheNext) {
  RequestFramer f(64 * 1024);
  ASSERT_EQ(f.feed("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT"), Status::kRequest);
  EXPECT_EQ(f.request().path, "/a");
  EXPECT_EQ(f.buffered(), 9u);
  f.next();
  EXPECT_FALSE(f.idle());
  EXPECT_EQ(f.feed({}), Status::kNeedMore);
  ASSERT_EQ(f.feed("TP/1.1\r\nHost: h\r\n\r\n"), Status::kRequest);
  EXPECT_EQ(f.request().path, "/b");
}

// However a stream is cut into segments, the same requests come out of it.
TEST(RequestFramer, EverySplitFramesTheSameRequests) {
  const std::string stream =
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" + kChunkedHead +
      "3;x=\"y;\\\"z\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0;end\r\nT: v\r\n\r\n" +
      "GET /c?q=1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::vector<std::string> expected = {"POST /a abc", "POST /e abc0123456789abcdef",
                                             "GET /c "};
  ASSERT_EQ(summary(frame(stream)), expected);
  for (size_t i = 1; i < stream.size(); ++i) {
    for (size_t j = i; j < stream.size(); j += 7) {
      auto s = frameSegments(
          std::vector<std::string>{stream.substr(0, i), stream.substr(i, j - i), stream.substr(j)});
      ASSERT_EQ(s.end, End::kClean) << i << "," << j;
      ASSERT_EQ(summary(s), expected) << i << "," << j;
    }
  }
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  EXPECT_EQ(summary(frameSegments(bytes)), expected);
}

TEST(RequestFramer, ChunkSizesAreHexDigitsOnly) {
  for (const char* size : {"0xf", "+f", " f", "-1", "f f", "", "g", "\t1", "1 "}) {
    auto s = frame(kChunkedHead + size + "\r\n" + std::string(15, 'a') + "\r\n0\r\n\r\n");
    EXPECT_EQ(s.end, End::kError) << size;
    EXPECT_EQ(s.error.refusal, RequestFramer::Refusal::kMalformed) << size;
    EXPECT_TRUE(s.requests.empty()) << size;
  }
  auto upper = frame(kChunkedHead + "00F\r\n" + std::string(15, 'a') + "\r\n000\r\n\r\n");
  ASSERT_EQ(upper.end, End::kClean);
  EXPECT_EQ(upper.requests.at(0).body, std::string(15, 'a'));
}

TEST(RequestFramer, TheCrlfAfterChunkDataIsChecked) {
  for (const char* body :
       {"3\r\nabcd\r\n0\r\n\r\n", "3\r\nabc\n0\r\n\r\n", "3\r\nabcXY0\r\n\r\n",
        "3\r\nab\r\n0\r\n\r\n", "3\nabc\r\n0\r\n\r\n", "0\r\n\n", "0\r\n\r\r\n"}) {
    auto s = frame(kChunkedHead + body);
    EXPECT_EQ(s.end, End::kError) << body;
  }
}

TEST(RequestFramer, ChunkExtensionsFollowTheGrammar) {
  for (const char* ext : {";a", ";a=b", " ; a = b", ";a=\"q \\\" ;\"", ";a;b=c;d", "\t;a=b\t;c"}) {
    auto s = frame(kChunkedHead + "1" + ext + "\r\nx\r\n0" + ext + "\r\n\r\n");
    EXPECT_EQ(s.end, End::kClean) << ext;
    EXPECT_EQ(summary(s), std::vector<std::string>{"POST /e x"}) << ext;
  }
  for (const char* ext : {";", ";a=", ";a b", ";a=\"x", ";=b", ";a=b c", ";a=\"x\"y", ";a@b", "g",
                          " ", ";a=\x01", ";a=\"\x01\""}) {
    auto s = frame(kChunkedHead + "1" + ext + "\r\nx\r\n0\r\n\r\n");
    EXPECT_EQ(s.end, End::kError) << ext;
  }
}

TEST(RequestFramer, TrailerLinesAreFieldLines) {
  for (const char* trailer : {" folded: x\r\n", "X: a\rb\r\n", "X: a\n", "No-colon\r\n",
                              "Bad name: x\r\n", "X: \x01\r\n"}) {
    auto s = frame(kChunkedHead + "0\r\n" + trailer + "\r\n");
    EXPECT_EQ(s.end, End::kError) << trailer;
  }
}

// A declared chunk size is checked against the limit before anything is stored: the framer
// refuses 7fffffff at once, with nothing buffered.
TEST(RequestFramer, OversizeChunkIsRefusedBeforeItsData) {
  for (const char* size : {"7fffffff", "ffffffffffffffffffffffff", "10001"}) {
    RequestFramer f(64 * 1024);
    ASSERT_EQ(f.feed(kChunkedHead + size), Status::kError) << size;
    EXPECT_EQ(f.error().refusal, RequestFramer::Refusal::kTooLarge);
    EXPECT_EQ(f.buffered(), 0u);
  }
  // Many small chunks count too, framing bytes included.
  std::string body;
  for (int i = 0; i < 100; ++i) body += "a\r\n0123456789\r\n";
  auto s = frame(kChunkedHead + body + "0\r\n\r\n", 1024);
  EXPECT_EQ(s.end, End::kError);
  EXPECT_EQ(s.error.refusal, RequestFramer::Refusal::kTooLarge);
  EXPECT_EQ(frame(kChunkedHead + body + "0\r\n\r\n", 4096).end, End::kClean);
}

TEST(RequestFramer, ContentLengthBodiesAreCountedAgainstTheLimitAtTheHead) {
  RequestFramer f(1024);
  ASSERT_EQ(f.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n"), Status::kError);
  EXPECT_EQ(f.error().refusal, RequestFramer::Refusal::kTooLarge);
  auto s = frame("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel", 1024);
  EXPECT_EQ(s.end, End::kIncomplete);
}

TEST(RequestFramer, HeadWithoutEndIsRefusedPastTheLimit) {
  RequestFramer f(1024);
  EXPECT_EQ(f.feed("GET / HTTP/1.1\r\nX: " + std::string(900, 'a')), Status::kNeedMore);
  EXPECT_EQ(f.feed(std::string(200, 'a')), Status::kError);
  EXPECT_EQ(f.error().refusal, RequestFramer::Refusal::kTooLarge);
}

// A bare LF is refused as soon as it is seen, not left to wait for a CRLF CRLF that never comes.
TEST(RequestFramer, BareLfInTheHeadIsRefusedAtOnce) {
  for (const char* head : {"GET / HTTP/1.1\n", "GET / HTTP/1.1\r\nHost: h\n",
                           "GET / HTTP/1.1\r\nHost: h\r\n\n", "\n", "\r\nGET / HTTP/1.1\r\n"}) {
    RequestFramer f(64 * 1024);
    EXPECT_EQ(f.feed(head), Status::kError) << head;
    EXPECT_EQ(f.error().refusal, RequestFramer::Refusal::kMalformed);
  }
  auto cr = frame("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n");
  EXPECT_EQ(cr.end, End::kError);
}

TEST(RequestFramer, BodyFramingMustBeUnambiguous) {
  for (const char* framing : {"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                              "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                              "Content-Length: 3\r\nContent-Length: 3\r\n",
                              "Content-Length: 3, 3\r\n", "Content-Length: +3\r\n",
                              "Transfer-Encoding: ch\r\n", "Transfer-Encoding: gzip, chunked\r\n",
                              "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"}) {
    auto s = frame(std::string("POST / HTTP/1.1\r\nHost: h\r\n") + framing +
                   "\r\n3\r\nabc\r\n0\r\n\r\n");
    EXPECT_EQ(s.end, End::kError) << framing;
    EXPECT_TRUE(s.requests.empty()) << framing;
  }
}

TEST(RequestFramer, ErrorIsFinal) {
  RequestFramer f(64 * 1024);
  ASSERT_EQ(f.feed("BAD\r\n\r\n"), Status::kError);
  f.next();
  EXPECT_EQ(f.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Status::kError);
}

}  // namespace
}  // namespace broker::http
