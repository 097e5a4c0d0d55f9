#pragma once
// An upstream HttpClient for fuzz targets that answers from a script cut out of the fuzz input, so
// the upstream code that reads GitHub and OIDC answers runs unchanged on arbitrary responses.
//
// Script: responses separated by a line "~~~". Each response is a status line ("200"), header
// lines ("link: <...>; rel=\"next\""), an empty line, then the body. A response without the empty
// line is all body with status 200. Once the script is used up, every call fails as unreachable.

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "broker/upstream/http_client.h"

namespace broker::fuzz {

class ScriptedHttp final : public upstream::HttpClient {
 public:
  explicit ScriptedHttp(std::string_view script) {
    constexpr std::string_view kSeparator = "\n~~~\n";
    while (true) {
      const size_t cut = script.find(kSeparator);
      answers_.push_back(parse(script.substr(0, cut)));
      if (cut == std::string_view::npos) break;
      script.remove_prefix(cut + kSeparator.size());
    }
  }

  Result<upstream::HttpResponse> send(const upstream::HttpRequest& request) override {
    requests_.push_back(request);
    if (next_ >= answers_.size()) return Error::unavailable("script ended");
    return answers_[next_++];
  }

  const std::vector<upstream::HttpRequest>& requests() const { return requests_; }

 private:
  static upstream::HttpResponse parse(std::string_view text) {
    upstream::HttpResponse r;
    r.status = 200;
    const size_t blank = text.find("\n\n");
    if (blank == std::string_view::npos) {
      r.body = std::string(text);
      return r;
    }
    std::string_view head = text.substr(0, blank);
    r.body = std::string(text.substr(blank + 2));
    const size_t eol = head.find('\n');
    const std::string status(head.substr(0, std::min<size_t>(eol, 3)));
    r.status = std::strtol(status.c_str(), nullptr, 10);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
    while (!head.empty()) {
      const size_t end = head.find('\n');
      const std::string_view line = head.substr(0, end);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string value(line.substr(colon + 1));
        if (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers.emplace(std::string(line.substr(0, colon)), std::move(value));
      }
      head = end == std::string_view::npos ? std::string_view() : head.substr(end + 1);
    }
    return r;
  }

  std::vector<upstream::HttpResponse> answers_;
  size_t next_ = 0;
  std::vector<upstream::HttpRequest> requests_;
};

}  // namespace broker::fuzz
