#pragma once
// A plain TCP connection to a loopback port, for what an HTTP client library hides: exact bytes
// on the wire, split into segments as a test chooses, and who closes.

#include <cstdint>
#include <string>

namespace broker::testing {

class RawConnection {
 public:
  explicit RawConnection(uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  // Sends all of `data` as one write; false when the socket refused it.
  bool send(const std::string& data);
  // Says the client has nothing more to send (a half close); reading goes on.
  void shutdownWrite();
  // One response with a Content-Length body (or none); whatever follows stays buffered. Returns
  // what was read when the connection ends or `timeout_ms` passes without a byte first.
  std::string readResponse(int timeout_ms = 10000);
  // True when the server closed its side (read returns 0 or the connection is reset) before
  // `timeout_ms` passes without a byte. Bytes read meanwhile are kept for readResponse().
  bool readsEof(int timeout_ms = 10000);

 private:
  bool fill(int timeout_ms);

  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffered_;
};

}  // namespace broker::testing
