// Object references inside argument values: who owns them, and copies.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "pyactor/value.hpp"

namespace pyactor::client {

/// Collects the worker uids of every object reference inside `x`.
void collect_owners(const value& x, std::vector<uint64_t>& uids);

/// Collects the references inside `x` held by a worker other than `keep`.
void collect_foreign(const value& x, uint64_t keep, std::vector<object_ref>& out);

/// Returns `x` with every reference found in `copies` replaced by its copy.
value substitute(const value& x, const std::vector<std::pair<object_ref, value>>& copies);

} // namespace pyactor::client
