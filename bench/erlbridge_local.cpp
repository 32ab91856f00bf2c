// The local side of the Erlang bridge benchmark: a blocking C++ call of
// `operator.add` on a 2-worker pool, as the reference an Erlang caller's
// `py:func` is compared with. Prints one JSON line.
//   pyactor-bench-erlbridge-local CALLS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "pyactor/pyactor.hpp"
#include "stats.hpp"

int main(int argc, char** argv) {
  int calls = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (calls < 1) {
    std::fprintf(stderr, "usage: %s CALLS\n", argv[0]);
    return 2;
  }
  pyactor::runtime_options opts;
  opts.workers = 2;
  opts.log = [](const std::string&) {};
  auto rt = pyactor::runtime::start(opts);
  if (!rt) {
    std::fprintf(stderr, "cannot start the pool: %s\n", rt.error().to_string().c_str());
    return 1;
  }
  auto& r = *rt.value();
  for (int i = 0; i < 200; ++i)
    r.call("operator", "add", {i, 1});
  std::vector<double> us;
  us.reserve(static_cast<size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto v = r.call("operator", "add", {i, 1});
    auto t1 = std::chrono::steady_clock::now();
    if (!v || v.value() != pyactor::value{i + 1}) {
      std::fprintf(stderr, "operator.add(%d, 1) gave a wrong result\n", i);
      return 1;
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::printf("{\"name\":\"local_call\",\"n\":%d,\"median_us\":%.1f,\"p99_us\":%.1f}\n", calls,
              pyactor::bench::percentile(us, 0.5), pyactor::bench::percentile(us, 0.99));
  return 0;
}
