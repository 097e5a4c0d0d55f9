// libFuzzer target for request framing (RequestFramer and the head parser behind it): any byte
// stream, in one segment or cut into many, frames into the same requests and ends the same way
// (clean, incomplete or refused with the same reason), and no request is larger than the limit.
// Pipelined requests are framed one after another as the server sees them. Built with clang when
// BROKER_BUILD_FUZZ is on; the seed corpus is also replayed by a plain ctest
// (request_framer_fuzz_corpus) with any compiler.
//
// Input: two bytes that seed where the stream is cut, then the stream.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fakes/frame_stream.h"

namespace {

using broker::testing::FramedStream;
using broker::testing::frameSegments;

constexpr size_t kMax = 1024;  // small, so the limit is reached often

bool sameRequest(const broker::http::Request& a, const broker::http::Request& b) {
  return a.method == b.method && a.path == b.path && a.raw_query == b.raw_query &&
         a.headers == b.headers && a.body == b.body && a.query == b.query;
}

void expectSame(const FramedStream& a, const FramedStream& b) {
  if (a.end != b.end || a.requests.size() != b.requests.size()) __builtin_trap();
  if (a.end == FramedStream::End::kError &&
      (a.error.refusal != b.error.refusal || a.error.message != b.error.message)) {
    __builtin_trap();
  }
  for (size_t i = 0; i < a.requests.size(); ++i) {
    if (!sameRequest(a.requests[i], b.requests[i])) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint32_t seed = (static_cast<uint32_t>(data[0]) << 8 | data[1]) + 1;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  const FramedStream whole = frameSegments(std::vector<std::string_view>{stream}, kMax);
  for (const auto& r : whole.requests) {
    if (r.body.size() > kMax) __builtin_trap();
  }

  std::vector<std::string_view> pieces;
  for (size_t at = 0; at < stream.size();) {
    seed = seed * 1103515245u + 12345u;
    const size_t n = 1 + (seed >> 16) % 64;
    pieces.push_back(stream.substr(at, n));
    at += n;
  }
  expectSame(whole, frameSegments(pieces, kMax));

  if (stream.size() <= 512) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
    expectSame(whole, frameSegments(bytes, kMax));
  }
  return 0;
}
