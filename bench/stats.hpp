// Small statistics shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <vector>

namespace pyactor::bench {

/// Returns the `p` quantile (0..1, nearest rank) of `xs`; 0 when empty.
inline double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto idx = static_cast<size_t>(p * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(idx, xs.size() - 1)];
}

} // namespace pyactor::bench
