#pragma once
// Small ASCII helpers for HTTP tokens (header names, methods, list items).

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace broker::http {

// ASCII only, whatever the C locale says (and without a call into it per character).
inline char asciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string toLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), asciiLower);
  return out;
}

inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return asciiLower(x) == asciiLower(y);
         });
}

// Optional whitespace (RFC 9110 §5.6.3).
inline std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// tchar (RFC 9110 §5.6.2): methods and header names.
inline bool isTokenChar(unsigned char c) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return kExtra.find(static_cast<char>(c)) != std::string_view::npos;
}

inline bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return isTokenChar(c); });
}

// A field value's characters (RFC 9110 §5.5): field-vchar, SP and HTAB, never a control
// character. A bare CR or LF in a value would end the line for some parsers and not for others.
inline bool isFieldValueChar(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// Calls f(item) for each non-empty, trimmed item of a comma-separated header value.
template <class F>
void forEachListItem(std::string_view value, F&& f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = trimOws(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (!item.empty()) f(item);
  }
}

}  // namespace broker::http
