#pragma once
// Parses an HTTP/1.x request line and header block into the plain Request (RFC 9112 §3, §5;
// RFC 9110 §5.3 for combining repeated fields). RequestFramer finds the head and reads the body;
// the head is parsed here, keeping repeated query parameters and repeated headers, which OAuth
// needs to see (RFC 6749 §3.1). Strict: a control character or space in the target, a control
// character in a field value, a missing or repeated Host in HTTP/1.1 (RFC 9112 §3.2), and any
// framing that is not exactly one of Content-Length or "Transfer-Encoding: chunked" (§6) are
// refused.

#include <cstdint>
#include <optional>
#include <string_view>

#include "broker/core/result.h"
#include "broker/http/http.h"

namespace broker::http {

struct RequestHead {
  bool http10 = false;
  bool keep_alive = true;
  bool expect_continue = false;
  std::optional<uint64_t> content_length;
  bool chunked = false;   // Transfer-Encoding: chunked (the only transfer coding accepted)
  bool has_body = false;  // a non-zero Content-Length, or chunked
};

// `head` runs from the request line up to and including the empty line. Fills method, path,
// raw_query, query, query_duplicates and headers of `req`. The error message is a fixed phrase,
// safe to send to the client.
Result<RequestHead> parseRequestHead(std::string_view head, Request& req);

// HTTP/1.1 is persistent unless the client says "close"; HTTP/1.0 only with "keep-alive"
// (RFC 9112 §9.3).
bool keepAliveRequested(bool http10, std::string_view connection);

}  // namespace broker::http
