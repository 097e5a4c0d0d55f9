// Client ID Metadata Documents: the SSRF guard, the document rules and the cache.

#include "oauth/client_metadata.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "unit/http/latch.h"

namespace broker::oauth {
namespace {

using nlohmann::json;

constexpr char kUrl[] = "https://app.example/oauth/client.json";

std::string document(json extra = json::object()) {
  json d = {{"client_id", kUrl},
            {"client_name", "Example App"},
            {"redirect_uris", {"http://127.0.0.1:3000/callback", "https://app.example/cb"}},
            {"grant_types", {"authorization_code", "refresh_token"}},
            {"token_endpoint_auth_method", "none"}};
  d.update(extra);
  return d.dump();
}

TEST(ClientMetadataAddresses, RefusePrivateLoopbackLinkLocalAndMetadataRanges) {
  for (const char* ip : {"10.0.0.1",
                         "172.16.5.4",
                         "172.31.255.255",
                         "192.168.1.1",
                         "127.0.0.1",
                         "127.8.8.8",
                         "169.254.169.254",
                         "100.64.0.1",
                         "0.0.0.0",
                         "224.0.0.1",
                         "255.255.255.255",
                         "192.0.0.8",
                         "198.18.0.1",
                         "::1",
                         "::",
                         "fe80::1",
                         "fc00::1",
                         "fd00:ec2::254",
                         "::ffff:10.0.0.1",
                         "::ffff:127.0.0.1",
                         "::ffff:169.254.169.254",
                         "ff02::1",
                         "2001:db8::1",
                         "64:ff9b::a00:1",
                         "2002:a00:1::1",
                         "not-an-ip",
                         ""}) {
    EXPECT_FALSE(isFetchableAddress(ip, false)) << ip;
  }
  for (const char* ip :
       {"93.184.215.14", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:93.184.215.14"}) {
    EXPECT_TRUE(isFetchableAddress(ip, false)) << ip;
  }
  // The development/test exception is for loopback only.
  EXPECT_TRUE(isFetchableAddress("127.0.0.1", true));
  EXPECT_TRUE(isFetchableAddress("::1", true));
  EXPECT_FALSE(isFetchableAddress("10.0.0.1", true));
  EXPECT_FALSE(isFetchableAddress("169.254.169.254", true));
}

// One row per IPv6 range that embeds an IPv4 address: its first and last address and one in the
// middle are refused, and the addresses just outside it are not (so the mask has the right width).
// The neighbours of the NAT64 /32 and of ::/96 lie in reserved space no route reaches; they are
// here to pin the prefix length, not because anything is served there.
struct RangeRow {
  const char* range;
  std::vector<const char*> inside;
  std::vector<const char*> just_outside;
};

TEST(ClientMetadataAddresses, RefuseIpv6RangesThatEmbedIpv4AddressesExactly) {
  const std::vector<RangeRow> rows = {
      {"::/96 IPv4-compatible",
       {"::2", "::a00:1", "::808:808", "::7f00:1", "::ffff:ffff"},
       {"::1:0:0", "::1:0:1"}},
      {"::ffff:0:0/96 IPv4-mapped (judged as IPv4)",
       {"::ffff:0:0", "::ffff:a00:1", "::ffff:a9fe:a9fe", "::ffff:ffff:ffff"},
       {"::fffe:ffff:ffff"}},
      {"64:ff9b::/96 NAT64 well-known prefix",
       {"64:ff9b::", "64:ff9b::a00:1", "64:ff9b::808:808", "64:ff9b::ffff:ffff"},
       {"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff"}},
      {"64:ff9b:1::/48 NAT64 local use",
       {"64:ff9b:1::", "64:ff9b:1::a00:1", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"},
       {"64:ff9c::"}},
      {"2001::/32 Teredo",
       {"2001::", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"},
       {"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:1::5"}},
      {"2002::/16 6to4",
       {"2002::", "2002:a00:1::1", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
       {"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::1"}},
  };
  for (const auto& row : rows) {
    for (const char* ip : row.inside) {
      EXPECT_FALSE(isFetchableAddress(ip, false)) << row.range << ": " << ip;
      EXPECT_FALSE(isFetchableAddress(ip, true)) << row.range << " (loopback allowed): " << ip;
    }
    for (const char* ip : row.just_outside) {
      EXPECT_TRUE(isFetchableAddress(ip, false)) << row.range << " neighbour: " << ip;
    }
  }
  // A mapped public IPv4 address stays fetchable; ::1 and :: keep their own rules.
  EXPECT_TRUE(isFetchableAddress("::ffff:808:808", false));
  EXPECT_FALSE(isFetchableAddress("::", true));
  EXPECT_TRUE(isFetchableAddress("::1", true));
  EXPECT_FALSE(isFetchableAddress("::1", false));
}

TEST(ClientMetadataUrls, AreHttpsOrLoopbackHttpWhenAllowed) {
  EXPECT_TRUE(isClientMetadataUrl(kUrl, false));
  EXPECT_FALSE(isClientMetadataUrl("http://127.0.0.1:5000/client.json", false));
  EXPECT_TRUE(isClientMetadataUrl("http://127.0.0.1:5000/client.json", true));
  EXPECT_FALSE(isClientMetadataUrl("http://app.example/client.json", true));
  EXPECT_FALSE(isClientMetadataUrl("client-1234", true));
  EXPECT_FALSE(isClientMetadataUrl("urn:example:client", true));
}

TEST(ClientMetadataDocument, BecomesAPublicClient) {
  auto c = clientFromMetadataDocument(kUrl, document());
  ASSERT_TRUE(c.ok()) << c.error().description;
  EXPECT_EQ(c->client_id, kUrl);
  EXPECT_EQ(c->client_name, "Example App");
  EXPECT_EQ(c->token_endpoint_auth_method, "none");
  EXPECT_TRUE(c->secret_hash.empty());
  EXPECT_EQ(c->redirect_uris.size(), 2u);
  EXPECT_EQ(c->grant_types, (std::vector<std::string>{"authorization_code", "refresh_token"}));
  // token_endpoint_auth_method may be left out: a document can never hold a secret.
  json d = json::parse(document());
  d.erase("token_endpoint_auth_method");
  EXPECT_TRUE(clientFromMetadataDocument(kUrl, d.dump()).ok());
}

TEST(ClientMetadataDocument, InvalidDocumentsAreInvalidClient) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {document({{"client_id", "https://app.example/other.json"}}), "name itself"},
      {document({{"client_id", std::string(kUrl) + "/"}}), "name itself"},
      {document({{"token_endpoint_auth_method", "client_secret_basic"}}), "\"none\""},
      {document({{"token_endpoint_auth_method", "private_key_jwt"}}), "\"none\""},
      {document({{"client_secret", "s3cret"}}), "client secret"},
      {document({{"redirect_uris", json::array()}}), "no redirect_uris"},
      {document({{"redirect_uris", "https://app.example/cb"}}), "no redirect_uris"},
      {document({{"redirect_uris", {"javascript:alert(1)"}}}), "not allowed"},
      {document({{"redirect_uris", {"http://app.example/cb"}}}), "not allowed"},
      {document({{"redirect_uris", {"https://app.example/cb#x"}}}), "not allowed"},
      {document({{"redirect_uris", {42}}}), "strings"},
  };
  for (const auto& [body, why] : bad) {
    auto c = clientFromMetadataDocument(kUrl, body);
    ASSERT_FALSE(c.ok()) << body;
    EXPECT_EQ(c.error().code, OAuthCode::kInvalidClient) << body;
    EXPECT_NE(c.error().description.find(why), std::string::npos)
        << body << " -> " << c.error().description;
  }
}

class ClientMetadataResolverTest : public ::testing::Test {
 protected:
  ClientMetadataResolver resolver(bool allow_loopback = false) {
    ClientMetadataOptions o;
    o.allow_loopback = allow_loopback;
    return ClientMetadataResolver(o, clock_, [this](const std::string& url) {
      ++fetches_;
      last_url_ = url;
      return response_;
    });
  }
  void serve(std::string body, int64_t max_age = -1, long status = 200) {
    response_ = {};
    response_.ok = true;
    response_.status = status;
    response_.body = std::move(body);
    response_.max_age = max_age;
  }

  FakeClock clock_;
  mcp_auth::HttpResponse response_;
  std::atomic<int> fetches_{0};
  std::string last_url_;
};

TEST_F(ClientMetadataResolverTest, CachesPerMaxAgeButAtMostADay) {
  auto r = resolver();
  serve(document(), 600);
  ASSERT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(last_url_, kUrl);
  ASSERT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 1);
  clock_.advance(601);
  ASSERT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 2);

  serve(document(), 10 * 86400);
  clock_.advance(601);
  ASSERT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 3);
  clock_.advance(86400 - 1);
  ASSERT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 3);
  clock_.advance(1);
  ASSERT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 4) << "a document is cached for 24 hours at most";
}

TEST_F(ClientMetadataResolverTest, NoStoreIsRefetchedEveryTime) {
  auto r = resolver();
  serve(document(), 600);
  response_.no_store = true;
  ASSERT_TRUE(r.resolve(kUrl).ok());
  ASSERT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 2);
}

TEST_F(ClientMetadataResolverTest, RedirectsErrorsAndLargeDocumentsAreRefused) {
  auto r = resolver();
  serve("", -1, 302);
  auto c = r.resolve(kUrl);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, OAuthCode::kInvalidClient);
  EXPECT_NE(c.error().description.find("HTTP 302"), std::string::npos);
  // Each failure is remembered for failure_ttl; let it pass before the next case.
  const int64_t forget = ClientMetadataOptions{}.failure_ttl;
  clock_.advance(forget);
  serve(document({{"client_name", std::string(6000, 'x')}}));
  c = r.resolve(kUrl);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().description.find("larger than 5 KB"), std::string::npos);
  clock_.advance(forget);
  response_ = {};
  response_.error = "timeout";
  c = r.resolve(kUrl);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().description.find("could not be fetched"), std::string::npos);
  // A refused document is remembered for failure_ttl only: a fixed one is picked up after that.
  serve(document());
  clock_.advance(forget);
  EXPECT_TRUE(r.resolve(kUrl).ok());
}

TEST_F(ClientMetadataResolverTest, FailuresAreRememberedBrieflyInsteadOfFetchedByEveryRequest) {
  auto r = resolver();
  serve("", -1, 404);
  for (int i = 0; i < 5; ++i) {
    auto c = r.resolve(kUrl);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().description.find("HTTP 404"), std::string::npos);
  }
  EXPECT_EQ(fetches_, 1) << "a failed URL is not fetched again while its failure is remembered";
  ASSERT_TRUE(r.cached(kUrl).has_value());
  EXPECT_FALSE(r.cached(kUrl)->ok());
  serve(document());
  clock_.advance(ClientMetadataOptions{}.failure_ttl - 1);
  EXPECT_FALSE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 1);
  clock_.advance(1);
  EXPECT_TRUE(r.resolve(kUrl).ok());
  EXPECT_EQ(fetches_, 2);
}

TEST_F(ClientMetadataResolverTest, RememberedFailuresAreBoundedInNumber) {
  ClientMetadataOptions o;
  o.max_failures = 3;
  ClientMetadataResolver r(o, clock_, [this](const std::string&) {
    ++fetches_;
    return response_;
  });
  serve("", -1, 500);
  auto url = [](int i) { return "https://app.example/c" + std::to_string(i) + ".json"; };
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(r.resolve(url(i)).ok());
  int remembered = 0;
  for (int i = 0; i < 5; ++i) remembered += r.cached(url(i)).has_value() ? 1 : 0;
  EXPECT_EQ(remembered, 3);
  EXPECT_TRUE(r.cached(url(4)).has_value()) << "the latest failure is always remembered";
}

// A fetch or lookup that blocks until the test lets it go.
using Gate = http::Latch;

TEST(ClientMetadataFetchPool, FetchesBeyondThreadsAndQueueAreRefusedAtOnce) {
  FakeClock clock;
  ClientMetadataOptions o;
  o.fetch_threads = 2;
  o.fetch_queue = 1;
  auto gate = std::make_shared<Gate>();
  std::atomic<int> started{0};
  ClientMetadataResolver r(o, clock, [gate, &started](const std::string& url) {
    ++started;
    gate->wait();
    mcp_auth::HttpResponse resp;
    resp.ok = true;
    resp.status = 200;
    json d = json::parse(document());
    d["client_id"] = url;
    resp.body = d.dump();
    return resp;
  });
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> answers;
  auto url = [](int i) { return "https://app.example/c" + std::to_string(i) + ".json"; };
  int accepted = 0;
  const auto before = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    const bool queued = r.resolveAsync(url(i), [&](ClientMetadataResolver::Resolved c) {
      std::lock_guard<std::mutex> lock(mu);
      answers.push_back(c.ok());
      cv.notify_all();
    });
    if (queued) ++accepted;
    // The two threads take their jobs before the next ones are offered.
    if (i < 2) {
      for (int spin = 0; spin < 1000 && started.load() <= i; ++spin) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2))
      << "offering work never waits for a fetch";
  EXPECT_EQ(accepted, 3) << "two fetching and one waiting; the rest refused";
  EXPECT_EQ(started.load(), 2);
  gate->open();
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return answers.size() == 3; }));
  for (bool ok : answers) EXPECT_TRUE(ok);
}

// There is no DNS server on loopback to make hang, so the lookup itself is replaced: it stands
// for a getaddrinfo that does not return.
TEST(ClientMetadataFetch, ANameThatDoesNotResolveInTimeIsCutOff) {
  FakeClock clock;
  ClientMetadataOptions o;
  o.resolve_timeout_ms = 300;
  auto gate = std::make_shared<Gate>();
  o.lookup = [gate](const std::string&, const std::string&) {
    gate->wait();
    return std::vector<std::string>{"93.184.215.14"};
  };
  ClientMetadataResolver r(o, clock);
  const auto before = std::chrono::steady_clock::now();
  auto c = r.resolve("https://slow-dns.example/client.json");
  const auto took = std::chrono::steady_clock::now() - before;
  gate->open();
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().description.find("did not resolve within 300 ms"), std::string::npos)
      << c.error().description;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
}

TEST(ClientMetadataFetch, AbandonedLookupsAreBoundedInNumber) {
  FakeClock clock;
  ClientMetadataOptions o;
  o.resolve_timeout_ms = 50;
  o.max_lookups = 2;
  o.failure_ttl = 0;
  auto gate = std::make_shared<Gate>();
  o.lookup = [gate](const std::string&, const std::string&) {
    gate->wait();
    return std::vector<std::string>{};
  };
  ClientMetadataResolver r(o, clock);
  EXPECT_NE(r.resolve("https://a.example/c.json").error().description.find("did not resolve"),
            std::string::npos);
  EXPECT_NE(r.resolve("https://b.example/c.json").error().description.find("did not resolve"),
            std::string::npos);
  // Two lookups still hang: a third is not started.
  auto c = r.resolve("https://c.example/c.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, OAuthCode::kTemporarilyUnavailable);
  gate->open();
}

TEST_F(ClientMetadataResolverTest, UrlsWithoutAPathOrOverPlainHttpAreNotFetched) {
  auto r = resolver();
  serve(document());
  EXPECT_FALSE(r.resolve("https://app.example").ok());
  EXPECT_FALSE(r.resolve("https://app.example/").ok());
  EXPECT_FALSE(r.resolve("http://app.example/client.json").ok());
  EXPECT_FALSE(r.resolve("http://127.0.0.1:5000/client.json").ok());
  EXPECT_FALSE(r.resolve("https://user@app.example/client.json").ok());
  EXPECT_EQ(fetches_, 0);
}

TEST(ClientMetadataFetch, PrivateAndMetadataAddressesAreRefusedBeforeConnecting) {
  FakeClock clock;
  ClientMetadataOptions o;
  o.allow_loopback = true;  // even the development exception stops at loopback
  ClientMetadataResolver r(o, clock);
  for (const char* url : {"https://10.1.2.3/client.json", "https://169.254.169.254/latest/x",
                          "https://[fd00:ec2::254]/client.json", "https://192.168.0.10/c.json",
                          "https://0.0.0.0/c.json"}) {
    auto c = r.resolve(url);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_NE(c.error().description.find("not a public address"), std::string::npos)
        << url << ": " << c.error().description;
  }
  ClientMetadataResolver strict({}, clock);
  auto c = strict.resolve("https://127.0.0.1:1/client.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().description.find("not a public address"), std::string::npos);
}

}  // namespace
}  // namespace broker::oauth
