// Store conformance: OAuth clients (registration, lookup, listing, deletion, last use).

#include <gtest/gtest.h>

#include "store_fixture.h"

namespace broker::store::testing {
namespace {

TEST_P(StoreConformance, CreatedClientRoundTripsEveryField) {
  auto client = sampleClient("c1");
  ASSERT_TRUE(store_->createClient(client).ok());
  auto got = store_->getClient("c1");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(fields(*got), fields(client));
}

TEST_P(StoreConformance, PublicPreregisteredClientWithEmptyListsRoundTrips) {
  ClientRecord client;
  client.client_id = "cli-client";
  client.token_endpoint_auth_method = "none";
  client.preregistered = true;
  client.created_at = now_;
  ASSERT_TRUE(store_->createClient(client).ok());
  auto got = store_->getClient("cli-client");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(fields(*got), fields(client));
}

TEST_P(StoreConformance, CreatingDuplicateClientIdReportsAlreadyExists) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  EXPECT_TRUE(failsWith(store_->createClient(sampleClient("c1")), ErrorCode::kAlreadyExists));
}

TEST_P(StoreConformance, GettingUnknownClientReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->getClient("nobody"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, ListingClientsReturnsEachOnce) {
  EXPECT_TRUE(store_->listClients()->empty());
  for (const char* id : {"c3", "c1", "c2"})
    ASSERT_TRUE(store_->createClient(sampleClient(id)).ok());
  auto all = store_->listClients();
  ASSERT_TRUE(all.ok());
  std::vector<std::string> ids;
  for (const auto& c : *all) ids.push_back(c.client_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"c1", "c2", "c3"}));
  EXPECT_EQ(fields(all->front()), fields(sampleClient("c1")));
}

TEST_P(StoreConformance, DeletingClientRemovesItWithItsLoginsCodesAndFamilies) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->createPendingLogin(sampleLogin("s1", "c1", now_ + 600)).ok());
  ASSERT_TRUE(store_->createAuthCode(sampleCode("code1", "c1", now_ + 60)).ok());
  auto family = sampleFamily("f1", "c1", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(family, sampleToken("t1", family, now_ + 3600)).ok());

  ASSERT_TRUE(store_->deleteClient("c1").ok());
  EXPECT_TRUE(failsWith(store_->getClient("c1"), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store_->consumePendingLogin("s1", now_), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store_->consumeAuthCode("code1", now_), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store_->getFamily("f1"), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store_->getRefreshToken("t1"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, DeletingUnknownClientReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->deleteClient("nobody"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, TouchingClientRecordsLastUse) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->touchClient("c1", now_ + 500).ok());
  EXPECT_EQ(store_->getClient("c1")->last_used_at, now_ + 500);
}

TEST_P(StoreConformance, TouchingUnknownClientReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->touchClient("nobody", now_), ErrorCode::kNotFound));
}

}  // namespace
}  // namespace broker::store::testing
