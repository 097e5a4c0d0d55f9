#include "config/yaml_source.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace broker::yamlsrc {
namespace {

size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string unknownKeyMessage(const std::string& key, const std::vector<std::string>& allowed) {
  std::string best;
  size_t best_distance = 3;  // further than this is not a typo worth suggesting
  for (const auto& candidate : allowed) {
    size_t d = editDistance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  if (!best.empty()) return "unknown key (did you mean '" + best + "'?)";
  std::string list;
  for (const auto& candidate : allowed) list += (list.empty() ? "" : ", ") + candidate;
  return "unknown key (expected one of: " + list + ")";
}

namespace {

// Records where each document starts and ignores everything else.
struct DocumentStarts final : YAML::EventHandler {
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

bool hasPosition(const YAML::Node& node) {
  return node.IsDefined() && node.Mark().line >= 0;
}

}  // namespace

std::string joinKey(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "." + child;
}

YAML::Node Source::load(const std::string& text) const {
  YAML::Node document;
  try {
    // Not YAML::LoadAll: in yaml-cpp 0.7 it loops forever, allocating, on input such as a lone
    // "," (a parser that reports a document without consuming anything). Count at most two
    // documents with the event parser instead, noticing a document that makes no progress.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    while (starts.marks.size() < 2 && parser.HandleNextDocument(starts)) {
    }
    if (starts.marks.size() == 2 && starts.marks[1].pos == starts.marks[0].pos) {
      const YAML::Mark& m = starts.marks[0];
      throw SourceError(file_ + ":" + std::to_string(m.line + 1) + ":" +
                        std::to_string(m.column + 1) + ": not valid YAML here");
    }
    if (starts.marks.size() > 1) {
      const YAML::Mark& m = starts.marks[1];
      throw SourceError(
          file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) +
          ": ---: a second YAML document starts here; the file must be one YAML document");
    }
    if (starts.marks.empty()) return YAML::Node(YAML::NodeType::Null);
    document = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw SourceError(file_ + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  size_t budget = kMaxNodes;
  rejectDuplicateKeys(document, budget, 0);
  return document;
}

void Source::rejectDuplicateKeys(const YAML::Node& node, size_t& budget, size_t depth) const {
  // Aliases let a few lines stand for an exponential tree ("billion laughs") or for a node that
  // contains itself (`a: &x {b: *x}`); no hand-written config or policy comes near these limits.
  if (budget-- == 0) {
    fail(node, "", "the document has too many nodes (aliases nested too deeply?)");
  }
  if (depth > kMaxDepth) {
    fail(node, "", "the document nests too deeply (an alias that contains itself?)");
  }
  if (node.IsSequence()) {
    for (const auto& child : node) rejectDuplicateKeys(child, budget, depth + 1);
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, YAML::Node> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) fail(entry.first, "", "mapping keys must be plain strings");
    auto [it, inserted] = seen.emplace(entry.first.Scalar(), entry.first);
    if (!inserted) {
      fail(entry.first, entry.first.Scalar(),
           "duplicate key (first defined at line " + std::to_string(it->second.Mark().line + 1) +
               ")");
    }
    rejectDuplicateKeys(entry.second, budget, depth + 1);
  }
}

std::string Source::where(const YAML::Node& node) const {
  if (!hasPosition(node)) return file_;
  return file_ + ":" + std::to_string(node.Mark().line + 1) + ":" +
         std::to_string(node.Mark().column + 1);
}

std::string Source::whereLine(const YAML::Node& node) const {
  if (!hasPosition(node)) return file_;
  return file_ + ":" + std::to_string(node.Mark().line + 1);
}

std::string Source::message(const YAML::Node& at, const std::string& key,
                            const std::string& text) const {
  return where(at) + ": " + (key.empty() ? "" : key + ": ") + text;
}

void Source::fail(const YAML::Node& at, const std::string& key, const std::string& message) const {
  throw SourceError(this->message(at, key, message));
}

std::vector<Entry> Source::entries(const YAML::Node& map, const std::string& path,
                                   const std::vector<std::string>& allowed) const {
  std::vector<Entry> out;
  if (!map.IsDefined() || map.IsNull()) return out;
  if (!map.IsMap()) fail(map, path, "expected a mapping");
  for (const auto& entry : map) {
    const std::string name = entry.first.Scalar();
    const std::string key = joinKey(path, name);
    if (allowed.size() > 0 && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      fail(entry.first, key, unknownKeyMessage(name, allowed));
    }
    const YAML::Node& value = entry.second;
    out.push_back({name, key, entry.first, value,
                   hasPosition(value) && !value.IsNull() ? value : entry.first});
  }
  return out;
}

void Source::requireMap(const Entry& e) const {
  if (!e.value.IsMap()) fail(e.at, e.key, "expected a mapping");
}

std::string Source::scalar(const Entry& e) const {
  if (!e.value.IsScalar()) fail(e.at, e.key, "expected a single value");
  return e.value.Scalar();
}

bool Source::boolean(const Entry& e) const {
  const std::string v = scalar(e);
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  fail(e.at, e.key, "expected true or false");
}

std::vector<Item> Source::scalarList(const Entry& e, bool allow_single) const {
  std::vector<Item> out;
  if (allow_single && e.value.IsScalar()) {
    out.push_back({e.value, e.key});
    return out;
  }
  if (!e.value.IsSequence())
    fail(e.at, e.key, allow_single ? "expected a value or a list" : "expected a list");
  size_t i = 0;
  for (const auto& child : e.value) {
    std::string item_key = e.key + "[" + std::to_string(i++) + "]";
    if (!child.IsScalar()) fail(child, item_key, "expected a single value");
    out.push_back({child, item_key});
  }
  return out;
}

}  // namespace broker::yamlsrc
