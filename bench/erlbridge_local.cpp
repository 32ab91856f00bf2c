// The local side of the Erlang bridge benchmark: a blocking C++ call of
// `operator.add` on a 2-worker pool, as the reference an Erlang caller's
// `py:func` is compared with, and the pool's own async throughput with 256
// calls in flight (the floor for the bridge's throughput: it cannot serve
// more calls than its pool). Prints one JSON line each.
//   pyactor-bench-erlbridge-local CALLS
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <cstdlib>
#include <functional>
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

  // Async: 20,000 calls, 256 in flight (8 callers x 32, as the Erlang side).
  const int total = 20000;
  const int window = 256;
  std::mutex mtx;
  std::condition_variable cv;
  int done = 0;
  int wrong = 0;
  std::atomic<int> next{0};
  std::function<void()> submit_one;
  submit_one = [&] {
    auto i = next.fetch_add(1);
    if (i >= total)
      return;
    r.call_async("operator", "add", {i, 1}, {}, {}, [&, i](pyactor::result<pyactor::value> v) {
      bool ok = v && v.value() == pyactor::value{i + 1};
      submit_one();
      std::lock_guard<std::mutex> guard{mtx};
      wrong += ok ? 0 : 1;
      if (++done == total)
        cv.notify_all();
    });
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < window; ++k)
    submit_one();
  {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [&] { return done == total; });
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (wrong != 0) {
    std::fprintf(stderr, "%d async calls gave wrong results\n", wrong);
    return 1;
  }
  std::printf("{\"name\":\"local_async\",\"calls\":%d,\"window\":%d,\"calls_per_s\":%.1f}\n",
              total, window, total / secs);
  return 0;
}
