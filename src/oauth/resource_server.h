#pragma once
// The broker's side of protecting MCP servers: the forward-auth endpoint that a reverse proxy asks
// before passing a request on, and the RFC 9728 protected-resource metadata of every server in the
// policy that has a `resource`.

#include <string>

#include "internal.h"

namespace broker::oauth {

void registerResourceServerRoutes(http::Router& router, AuthorizationServer::Impl& impl,
                                  const std::string& prefix);

}  // namespace broker::oauth
