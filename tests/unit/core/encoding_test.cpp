#include "broker/core/encoding.h"

#include <gtest/gtest.h>

#include "broker/core/crypto.h"

namespace broker {
namespace {

TEST(Base64Url, RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 64; ++i) {
    data.push_back(static_cast<char>(i * 37));
    auto enc = base64urlEncode(data);
    EXPECT_EQ(enc.find('='), std::string::npos);
    auto dec = base64urlDecode(enc);
    ASSERT_TRUE(dec.has_value());
    EXPECT_EQ(*dec, data);
  }
}

TEST(Base64Url, RejectsForeignCharactersAndNonCanonicalTails) {
  EXPECT_FALSE(base64urlDecode("ab+c").has_value());
  EXPECT_FALSE(base64urlDecode("ab/c").has_value());
  EXPECT_FALSE(base64urlDecode("a").has_value());
  EXPECT_FALSE(base64urlDecode("QR").has_value());  // "A" is "QQ"; "QR" has stray low bits
  EXPECT_EQ(*base64urlDecode("QQ"), "A");
}

TEST(UrlDecode, RejectsTruncatedEscapes) {
  EXPECT_FALSE(urlDecode("%").has_value());
  EXPECT_FALSE(urlDecode("%4").has_value());
  EXPECT_FALSE(urlDecode("%zz").has_value());
  EXPECT_EQ(*urlDecode("a+b%20c"), "a b c");
  EXPECT_EQ(*urlDecode("a+b", false), "a+b");
}

TEST(HtmlEscape, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(htmlEscape("<a href=\"x\" onclick='y'>&</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
}

TEST(Crypto, Sha256MatchesKnownVector) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, ConstantTimeEqualsComparesLengthAndContent) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "abcd"));
}

TEST(Crypto, HkdfIsDeterministicAndPurposeBound) {
  auto a = hkdfSha256("master-secret-0123456789abcdef0123", "refresh", 32);
  auto b = hkdfSha256("master-secret-0123456789abcdef0123", "refresh", 32);
  auto c = hkdfSha256("master-secret-0123456789abcdef0123", "cookie", 32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace broker

namespace broker {
namespace {

TEST(ParseUrlEncoded, KeepsFirstValueAndReportsDuplicates) {
  std::map<std::string, std::string> out;
  std::vector<std::string> dups;
  ASSERT_TRUE(parseUrlEncoded("a=1&b=x+y&a=2&&c=&d", out, &dups));
  EXPECT_EQ(out["a"], "1");
  EXPECT_EQ(out["b"], "x y");
  EXPECT_EQ(out["c"], "");
  EXPECT_EQ(out["d"], "");
  ASSERT_EQ(dups.size(), 1u);
  EXPECT_EQ(dups[0], "a");
}

TEST(ParseUrlEncoded, RejectsBadEscapes) {
  std::map<std::string, std::string> out;
  EXPECT_FALSE(parseUrlEncoded("a=%zz", out));
}

}  // namespace
}  // namespace broker
