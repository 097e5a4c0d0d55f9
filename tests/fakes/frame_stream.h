#pragma once
// Runs a byte stream, split into segments, through the server's RequestFramer and collects every
// request it frames: what the server would see on one connection, except that this goes on
// after a pipelined request instead of closing. Header-only so that the fuzz target, which links
// no test library, shares it with the unit and differential tests.

#include <string>
#include <string_view>
#include <vector>

#include "http/request_framer.h"

namespace broker::testing {

struct FramedStream {
  enum class End {
    kClean,       // every byte was framed into whole requests
    kIncomplete,  // the stream stopped inside a request
    kError,       // the framer refused the stream after `requests`
  };
  std::vector<http::Request> requests;
  End end = End::kClean;
  http::RequestFramer::Error error;  // with kError
};

inline FramedStream frameSegments(const std::vector<std::string_view>& segments,
                                  size_t max_request_size = 64 * 1024) {
  FramedStream out;
  http::RequestFramer framer(max_request_size);
  for (std::string_view segment : segments) {
    auto status = framer.feed(segment);
    while (status == http::RequestFramer::Status::kRequest) {
      out.requests.push_back(std::move(framer.request()));
      framer.next();
      status = framer.feed({});
    }
    if (status == http::RequestFramer::Status::kError) {
      out.end = FramedStream::End::kError;
      out.error = framer.error();
      return out;
    }
  }
  out.end = framer.idle() ? FramedStream::End::kClean : FramedStream::End::kIncomplete;
  return out;
}

inline FramedStream frameSegments(const std::vector<std::string>& segments,
                                  size_t max_request_size = 64 * 1024) {
  return frameSegments(std::vector<std::string_view>(segments.begin(), segments.end()),
                       max_request_size);
}

}  // namespace broker::testing
