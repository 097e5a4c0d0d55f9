#pragma once
// Serialises a response for the wire (RFC 9112 §4, §6; RFC 9110 §6.6.1, §8.6): the status line,
// Date, the response's own headers in order (a repeated name stays repeated: Set-Cookie), and the
// framing the server owns (Content-Length, Connection). One buffer, one write: the server never
// goes through per-header objects for an answer.

#include <string>

#include "broker/http/http.h"

namespace broker::http {

struct WireFraming {
  bool close = false;   // send "Connection: close" (the server closes after this answer)
  bool http10 = false;  // an HTTP/1.0 client kept alive needs "Connection: keep-alive"
  bool head = false;    // the answer to HEAD: headers of the would-be body, no body bytes
};

// The reason phrase of a status code, or "" for codes without a registered one (allowed by
// RFC 9112 §4).
const char* reasonPhrase(int status);

// Content-Length, Connection, Transfer-Encoding and Keep-Alive set by the handler are dropped:
// framing belongs to the server. 1xx, 204 and 304 answers carry neither a body nor a length.
std::string serializeResponse(const Response& r, const WireFraming& framing);

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate) for `unix_seconds`.
std::string httpDate(long long unix_seconds);

}  // namespace broker::http
