#include "object_refs.hpp"

#include <algorithm>

namespace pyactor::client {

/// Collects the worker uids of every object reference inside `x`.
void collect_owners(const value& x, std::vector<uint64_t>& uids) {
  std::visit(
    [&](const auto& v) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, object_ref>) {
        if (std::find(uids.begin(), uids.end(), v.worker_uid) == uids.end())
          uids.push_back(v.worker_uid);
      } else if constexpr (std::is_same_v<T, list>) {
        for (auto& item : v)
          collect_owners(item, uids);
      } else if constexpr (std::is_same_v<T, pyactor::tuple>) {
        for (auto& item : v.items)
          collect_owners(item, uids);
      } else if constexpr (std::is_same_v<T, dict>) {
        for (auto& kv : v.items) {
          collect_owners(kv.first, uids);
          collect_owners(kv.second, uids);
        }
      } else if constexpr (std::is_same_v<T, tagged>) {
        if (v.payload)
          collect_owners(*v.payload, uids);
      }
    },
    x.variant());
}

value substitute(const value& x, const std::vector<std::pair<object_ref, value>>& copies) {
  return std::visit(
    [&](const auto& v) -> value {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, object_ref>) {
        for (auto& c : copies)
          if (c.first == v)
            return c.second;
        return v;
      } else if constexpr (std::is_same_v<T, list>) {
        list out;
        for (auto& item : v)
          out.push_back(substitute(item, copies));
        return out;
      } else if constexpr (std::is_same_v<T, pyactor::tuple>) {
        pyactor::tuple out;
        for (auto& item : v.items)
          out.items.push_back(substitute(item, copies));
        return out;
      } else if constexpr (std::is_same_v<T, dict>) {
        dict out;
        for (auto& kv : v.items)
          out.items.emplace_back(substitute(kv.first, copies), substitute(kv.second, copies));
        return out;
      } else {
        return v;
      }
    },
    x.variant());
}

void collect_foreign(const value& x, uint64_t keep, std::vector<object_ref>& out) {
  std::visit(
    [&](const auto& v) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, object_ref>) {
        if (v.worker_uid != keep && std::find(out.begin(), out.end(), v) == out.end())
          out.push_back(v);
      } else if constexpr (std::is_same_v<T, list>) {
        for (auto& item : v)
          collect_foreign(item, keep, out);
      } else if constexpr (std::is_same_v<T, pyactor::tuple>) {
        for (auto& item : v.items)
          collect_foreign(item, keep, out);
      } else if constexpr (std::is_same_v<T, dict>) {
        for (auto& kv : v.items) {
          collect_foreign(kv.first, keep, out);
          collect_foreign(kv.second, keep, out);
        }
      }
    },
    x.variant());
}

} // namespace pyactor::client
