#include "http/response_wire.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "http/strings.h"

namespace broker::http {
namespace {

bool isFramingHeader(std::string_view name) {
  return equalsIgnoreCase(name, "content-length") || equalsIgnoreCase(name, "connection") ||
         equalsIgnoreCase(name, "transfer-encoding") || equalsIgnoreCase(name, "keep-alive");
}

// The Date line changes once a second; each thread formats it once a second.
const std::string& currentDateLine() {
  thread_local long long cached_secs = -1;
  thread_local std::string cached;
  const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  if (now != cached_secs) {
    cached = "Date: " + httpDate(now) + "\r\n";
    cached_secs = now;
  }
  return cached;
}

void appendDecimal(std::string& out, uint64_t v) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  out.append(digits, static_cast<size_t>(end - digits));
}

}  // namespace

const char* reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

std::string httpDate(long long unix_seconds) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return out;
}

std::string serializeResponse(const Response& r, const WireFraming& framing) {
  const bool no_content = r.status < 200 || r.status == 204 || r.status == 304;
  const bool send_body = !no_content && !framing.head;
  std::string out;
  size_t size = 128 + (send_body ? r.body.size() : 0);
  for (const auto& [name, value] : r.headers) size += name.size() + value.size() + 4;
  out.reserve(size);

  out += framing.http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  appendDecimal(out, static_cast<uint64_t>(r.status));
  out += ' ';
  out += reasonPhrase(r.status);
  out += "\r\n";
  out += currentDateLine();
  for (const auto& [name, value] : r.headers) {
    if (isFramingHeader(name)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (framing.close) {
    out += "Connection: close\r\n";
  } else if (framing.http10) {
    out += "Connection: keep-alive\r\n";
  }
  if (!no_content) {
    out += "Content-Length: ";
    appendDecimal(out, r.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  if (send_body) out += r.body;
  return out;
}

}  // namespace broker::http
