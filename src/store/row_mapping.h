#pragma once
// Maps a record struct to a table row: one list of {column, member} per record gives the column
// list, the INSERT statement, the parameters to write a record and the decoding of a row, so they
// cannot drift apart. Booleans are stored as INTEGER 0/1 and string lists as JSON arrays (TEXT).

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "store/sql_driver.h"

namespace broker::store {

std::string toJsonList(const std::vector<std::string>& items);
std::vector<std::string> fromJsonList(const std::string& text);

template <class R>
struct Column {
  using Member =
      std::variant<std::string R::*, int64_t R::*, bool R::*, std::vector<std::string> R::*>;
  const char* name;
  Member member;
};

template <class R>
class RowMapping {
 public:
  RowMapping(std::string table, std::vector<Column<R>> columns)
      : table_(std::move(table)), columns_(std::move(columns)) {}

  const std::string& table() const { return table_; }

  size_t size() const { return columns_.size(); }

  // "a, b, c" (or "t.a, t.b, t.c" with a qualifier), in the order params() and decode() use.
  std::string columnList(const std::string& qualifier = "") const {
    std::string out;
    for (const auto& c : columns_) out += (out.empty() ? "" : ", ") + qualifier + c.name;
    return out;
  }

  std::string insertSql() const {
    std::string values;
    for (size_t i = 1; i <= columns_.size(); ++i) {
      values += (i == 1 ? "$" : ", $") + std::to_string(i);
    }
    return "INSERT INTO " + table_ + " (" + columnList() + ") VALUES (" + values + ")";
  }

  // "CAST($first AS TEXT), CAST($first+1 AS BIGINT), ...": the parameters of params(), typed, for
  // an INSERT ... SELECT (where the database cannot infer a parameter's type from its column).
  std::string typedParams(size_t first) const {
    std::string out;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const bool integer = std::holds_alternative<int64_t R::*>(columns_[c].member) ||
                           std::holds_alternative<bool R::*>(columns_[c].member);
      out += std::string(c == 0 ? "" : ", ") + "CAST($" + std::to_string(first + c) +
             (integer ? " AS BIGINT)" : " AS TEXT)");
    }
    return out;
  }

  // "SELECT <every column> FROM <table> <rest>"
  std::string selectSql(const std::string& rest) const {
    return "SELECT " + columnList() + " FROM " + table_ + " " + rest;
  }

  SqlParams params(const R& record) const {
    SqlParams out;
    out.reserve(columns_.size());
    for (const auto& c : columns_) {
      std::visit(
          [&](auto member) {
            const auto& value = record.*member;
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, bool>) {
              out.emplace_back(int64_t{value ? 1 : 0});
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
              out.emplace_back(toJsonList(value));
            } else {
              out.emplace_back(value);
            }
          },
          c.member);
    }
    return out;
  }

  // Decodes the record from the row's cells starting at `offset` (a join selects several).
  R decode(const SqlRow& row, size_t offset = 0) const {
    R record;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const size_t i = offset + c;
      std::visit(
          [&](auto member) {
            auto& value = record.*member;
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, bool>) {
              value = row.integer(i) != 0;
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
              value = fromJsonList(row.text(i));
            } else if constexpr (std::is_same_v<T, int64_t>) {
              value = row.integer(i);
            } else {
              value = row.text(i);
            }
          },
          columns_[c].member);
    }
    return record;
  }

 private:
  std::string table_;
  std::vector<Column<R>> columns_;
};

}  // namespace broker::store
