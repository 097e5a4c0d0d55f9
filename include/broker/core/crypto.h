#pragma once
// Small OpenSSL wrappers used across modules.

#include <string>
#include <string_view>

namespace broker {

std::string sha256(std::string_view data);                            // raw 32 bytes
std::string sha256Hex(std::string_view data);                         // 64 lowercase hex chars
std::string hmacSha256(std::string_view key, std::string_view data);  // raw 32 bytes
// HKDF-SHA256 (RFC 5869) with empty salt.
std::string hkdfSha256(std::string_view ikm, std::string_view info, size_t length);
// Constant-time equality (CRYPTO_memcmp); different lengths compare unequal.
bool constantTimeEquals(std::string_view a, std::string_view b);

}  // namespace broker
