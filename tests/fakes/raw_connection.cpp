#include "fakes/raw_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace broker::testing {

RawConnection::RawConnection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

RawConnection::~RawConnection() {
  ::close(fd_);
}

bool RawConnection::send(const std::string& data) {
  return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

void RawConnection::shutdownWrite() {
  ::shutdown(fd_, SHUT_WR);
}

std::string RawConnection::readResponse(int timeout_ms) {
  while (true) {
    size_t end = buffered_.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t len = 0;
      size_t cl = buffered_.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) len = std::stoul(buffered_.substr(cl + 16));
      if (buffered_.size() >= end + 4 + len) {
        std::string out = buffered_.substr(0, end + 4 + len);
        buffered_.erase(0, end + 4 + len);
        return out;
      }
    }
    if (!fill(timeout_ms)) return std::exchange(buffered_, "");
  }
}

bool RawConnection::readsEof(int timeout_ms) {
  while (fill(timeout_ms)) {
  }
  return eof_;
}

bool RawConnection::fill(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[4096];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    eof_ = n == 0 || errno == ECONNRESET;
    return false;
  }
  buffered_.append(buf, static_cast<size_t>(n));
  return true;
}

}  // namespace broker::testing
