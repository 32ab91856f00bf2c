// Small statistics shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
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

/// `{"median":M,"min":A,"max":B,"rounds":[r1,...]}` of per-round values: the
/// median is the figure to quote, min and max are the spread across rounds.
inline std::string spread_json(const std::vector<double>& per_round, int digits = 3) {
  char buf[96];
  std::string out = "{";
  std::snprintf(buf, sizeof(buf), "\"median\":%.*f,\"min\":%.*f,\"max\":%.*f,\"rounds\":[", digits,
                percentile(per_round, 0.5), digits, percentile(per_round, 0.0), digits,
                percentile(per_round, 1.0));
  out += buf;
  for (size_t i = 0; i < per_round.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%s%.*f", i == 0 ? "" : ",", digits, per_round[i]);
    out += buf;
  }
  return out + "]}";
}

/// Counts of samples per CPU core (from sched_getcpu or /proc/PID/stat field 39).
using cpu_counts = std::map<int, long>;

/// `{"0":N,"1":M}`: how many samples saw each core.
inline std::string cpu_json(const cpu_counts& counts) {
  std::string out = "{";
  for (auto& [cpu, n] : counts) {
    if (out.size() > 1)
      out += ",";
    out += "\"" + std::to_string(cpu) + "\":" + std::to_string(n);
  }
  return out + "}";
}

} // namespace pyactor::bench
