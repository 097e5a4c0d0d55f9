#pragma once
// Frames HTTP/1.1 requests out of the bytes of one connection (RFC 9112 §2.2, §6, §7.1), without
// sockets: feed it bytes as they arrive and it says whether a whole request is there, more bytes
// are needed, or the framing is broken. The server frames every request through this; Pistache's
// own parser is never fed (it stops chunked bodies at "0\r\n", leaves trailers unread and reserves
// whatever chunk size a client declares).
//
// Strict on purpose, because a proxy in front of the broker must not see a different request
// boundary than the broker does:
// - the head ends at the first empty line; a bare LF anywhere in it is refused (§2.2);
// - a body is framed by exactly one of Content-Length (digits only) or Transfer-Encoding, and
//   both together are refused (§6.3); "chunked" is the only transfer coding accepted, alone
//   (§6.1, §7); HTTP/1.0 with Transfer-Encoding is refused (§6.1);
// - chunk sizes are hex digits only, chunk extensions follow the grammar of §7.1.1, the CRLF after
//   each chunk's data is checked, and the trailer section is read to its empty line (§7.1.2),
//   checked as field lines and dropped;
// - the size limit counts every byte of the request (head, chunk framing, data, trailers) and is
//   checked before a byte of body is stored, so a declared size never makes it allocate.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/http/http.h"
#include "http/request_head.h"

namespace broker::http {

class RequestFramer {
 public:
  enum class Status {
    kNeedMore,  // no whole request yet; feed more bytes
    kRequest,   // request() and head() hold a whole request; call next() for the one after it
    kError,     // the framing is broken: answer error() and close the connection
  };
  enum class Refusal { kMalformed, kTooLarge };
  struct Error {
    Refusal refusal = Refusal::kMalformed;
    std::string message;  // a fixed phrase, safe to send to the client
  };

  explicit RequestFramer(size_t max_request_size) : max_(max_request_size) {}

  // Frames `input`, the next bytes of the connection, after any bytes kept from earlier calls.
  // Bytes of a whole request that sit in `input` are read from it directly (the body is copied
  // once, into the request); only an unfinished head and bytes after a framed request are kept.
  Status feed(std::string_view input);

  // After kRequest: the request (method, target, headers, body) and what its head says.
  Request& request() { return request_; }
  const RequestHead& head() const { return head_; }
  // After kError.
  const Error& error() const { return error_; }

  // True once the current request's head has been read (its body may still be on its way).
  bool headComplete() const { return phase_ != Phase::kHead && phase_ != Phase::kError; }
  // True while no byte of the next request has arrived.
  bool idle() const { return phase_ == Phase::kHead && pending_.empty(); }
  // Bytes received beyond the framed request (a pipelining client), not framed yet.
  size_t buffered() const { return pending_.size(); }

  // Forgets the framed request; the next feed() (with empty input to use only the bytes kept)
  // frames the one after it.
  void next();

 private:
  enum class Phase {
    kHead,
    kFixedBody,      // Content-Length bytes
    kChunkSize,      // 1*HEXDIG
    kExtBeforeSemi,  // BWS before ";"
    kExtNameStart,   // BWS then chunk-ext-name
    kExtName,
    kExtAfterName,  // BWS before "=" or ";"
    kExtValueStart,
    kExtToken,
    kExtQuoted,
    kExtQuotedPair,
    kExtAfterQuoted,
    kChunkSizeLf,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
    kTrailerLineStart,
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kFinalLf,
    kDone,
    kError,
  };

  Status fail(Refusal refusal, std::string message);
  // Frames from `in`, consuming what it reads.
  Status run(std::string_view& in);
  Status readHead(std::string_view& in);
  // Counts `n` more bytes against the size limit; false (and kError) past it.
  bool charge(uint64_t n);
  // One byte of chunk framing or trailer; false when it is refused (the error is set).
  bool chunkByte(unsigned char c);

  const size_t max_;
  Phase phase_ = Phase::kHead;
  std::string pending_;   // bytes received and not framed yet
  size_t head_scan_ = 0;  // where to go on looking for the end of the head in pending_
  uint64_t used_ = 0;     // bytes of the current request framed so far
  uint64_t remaining_ = 0;
  bool chunk_digits_ = false;
  Request request_;
  RequestHead head_;
  Error error_;
};

}  // namespace broker::http
