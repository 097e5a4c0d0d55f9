#include "broker/core/encoding.h"

#include <array>

#include "mcp_auth/jwt.h"

namespace broker {
namespace {

// One base64 implementation: the verification library's base64url (mcp_auth/jwt.h). Standard
// base64 differs only in two characters of the alphabet and in padding.
std::string swapAlphabet(std::string s, char from62, char from63, char to62, char to63) {
  for (char& c : s) {
    if (c == from62) {
      c = to62;
    } else if (c == from63) {
      c = to63;
    }
  }
  return s;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string base64urlEncode(std::string_view data) {
  return mcp_auth::base64urlEncode(data);
}
std::string base64urlEncode(const std::vector<uint8_t>& data) {
  return mcp_auth::base64urlEncode(
      std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}
std::optional<std::string> base64urlDecode(std::string_view in) {
  return mcp_auth::base64urlDecode(in);
}
std::string base64Encode(std::string_view data) {
  std::string out = swapAlphabet(mcp_auth::base64urlEncode(data), '-', '_', '+', '/');
  while (out.size() % 4 != 0) out += '=';
  return out;
}
std::optional<std::string> base64Decode(std::string_view in) {
  // The URL-safe characters are not part of the standard alphabet.
  if (in.find_first_of("-_") != std::string_view::npos) return std::nullopt;
  return mcp_auth::base64urlDecode(swapAlphabet(std::string(in), '+', '/', '-', '_'));
}

std::string hexEncode(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> hexDecode(std::string_view in) {
  if (in.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 2);
  for (size_t i = 0; i < in.size(); i += 2) {
    int hi = hexValue(in[i]), lo = hexValue(in[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += char(hi * 16 + lo);
  }
  return out;
}

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> urlDecode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += char(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && form) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool parseUrlEncoded(std::string_view text, std::map<std::string, std::string>& out,
                     std::vector<std::string>* duplicates) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t amp = text.find('&', pos);
    if (amp == std::string_view::npos) amp = text.size();
    std::string_view pair = text.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = urlDecode(pair.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                              : urlDecode(pair.substr(eq + 1));
    if (!key || !value) return false;
    if (out.count(*key)) {
      if (duplicates) duplicates->push_back(*key);
      continue;
    }
    out.emplace(std::move(*key), std::move(*value));
  }
  return true;
}

std::string htmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace broker
