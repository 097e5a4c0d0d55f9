#pragma once
// base64url (RFC 4648 §5, no padding), standard base64, hex, URL encoding.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace broker {

std::string base64urlEncode(std::string_view data);
std::string base64urlEncode(const std::vector<uint8_t>& data);
// Accepts input with or without padding; rejects characters outside the alphabet.
std::optional<std::string> base64urlDecode(std::string_view in);
std::string base64Encode(std::string_view data);
std::optional<std::string> base64Decode(std::string_view in);
std::string hexEncode(std::string_view data);
std::optional<std::string> hexDecode(std::string_view in);
// application/x-www-form-urlencoded / RFC 3986 percent-encoding.
std::string urlEncode(std::string_view s);
// Decodes %XX and (when form is true) '+' as space. Returns nullopt on a bad escape.
std::optional<std::string> urlDecode(std::string_view s, bool form = true);
// Parses application/x-www-form-urlencoded text (a query string or form body). The first value of a
// repeated key wins; repeated keys are listed in `duplicates` (OAuth forbids repeating parameters).
// Returns false on a malformed escape.
bool parseUrlEncoded(std::string_view text, std::map<std::string, std::string>& out,
                     std::vector<std::string>* duplicates = nullptr);
// Escapes & < > " ' for HTML text and attribute values.
std::string htmlEscape(std::string_view s);

}  // namespace broker
