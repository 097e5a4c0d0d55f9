#pragma once
// YAML read with its source positions, shared by the config and policy loaders so both report
// errors the same way: "file:line:column: key: message". yaml-cpp accepts duplicate mapping keys
// and several documents per file without a word; both are rejected here.

#include <yaml-cpp/yaml.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace broker::yamlsrc {

// Callers translate it into their own start-up error type (ConfigError, PolicyError).
struct SourceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A list item together with the key path that names it in messages ("a.b[2]").
struct Item {
  YAML::Node node;
  std::string key;
};

// One mapping entry. `at` is where messages about the value point: the value itself, or the key
// when the value is empty (yaml-cpp gives an empty value the position of whatever follows it).
struct Entry {
  std::string name;  // the key as written
  std::string key;   // full path, "tokens.access_ttl"
  YAML::Node key_node;
  YAML::Node value;
  YAML::Node at;
};

class Source {
 public:
  explicit Source(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  // Parses one document. A file that is empty or only comments yields a Null node.
  YAML::Node load(const std::string& text) const;

  // "file:line:column" of `node` (1-based); "file" when yaml-cpp has no position for it.
  std::string where(const YAML::Node& node) const;
  // "file:line", for messages that other components print later.
  std::string whereLine(const YAML::Node& node) const;

  // "file:line:column: key: text", the shape of every error; warnings use it too.
  std::string message(const YAML::Node& at, const std::string& key, const std::string& text) const;
  [[noreturn]] void fail(const YAML::Node& at, const std::string& key,
                         const std::string& message) const;

  // The entries of a mapping in file order, each key checked against `allowed` (an empty list
  // allows any key). An unknown key is reported with the closest allowed spelling.
  std::vector<Entry> entries(const YAML::Node& map, const std::string& path,
                             const std::vector<std::string>& allowed) const;
  void requireMap(const Entry& e) const;
  std::string scalar(const Entry& e) const;
  bool boolean(const Entry& e) const;
  // A sequence of scalars; a single scalar counts as a list of one when `allow_single` is set.
  std::vector<Item> scalarList(const Entry& e, bool allow_single = false) const;

 private:
  static constexpr size_t kMaxNodes = 1000000;
  static constexpr size_t kMaxDepth = 64;
  void rejectDuplicateKeys(const YAML::Node& node, size_t& budget, size_t depth) const;

  std::string file_;
};

// "unknown key (did you mean 'x'?)", or the list of `allowed` keys when none is close.
std::string unknownKeyMessage(const std::string& key, const std::vector<std::string>& allowed);

// "parent.child", or "child" at the root.
std::string joinKey(const std::string& parent, const std::string& child);

}  // namespace broker::yamlsrc
