#pragma once
// A test fixture for an upstream against its fake server: a FakeClock the upstream and the fake
// share (tokens and caches expire together), a FakeRandom, and a login that goes through the
// browser like the broker's flow does.

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "broker/core/clock.h"
#include "broker/core/random.h"
#include "fakes/fake_upstream.h"

namespace broker::upstream {

template <class Fake, class FakeOptions>
class UpstreamFixture : public ::testing::Test {
 protected:
  UpstreamFixture(FakeOptions fake, std::string state, std::string callback_url)
      : state_(std::move(state)), callback_url_(std::move(callback_url)), fake_([&] {
          fake.clock = &clock_;
          return fake;
        }()) {}

  Result<LoginResult, OAuthError> login(UpstreamProvider& p,
                                        const std::function<void(Callback&)>& tamper = {}) {
    return broker::testing::browserLogin(p, state_, callback_url_, tamper);
  }

  const std::string state_;
  const std::string callback_url_;
  FakeClock clock_;
  FakeRandom random_;
  Fake fake_;
};

}  // namespace broker::upstream
