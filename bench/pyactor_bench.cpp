// pyactor-bench: pyactor's side of the benchmarks, through the public C++ API
// only. Every workload verifies every result it gets back; a wrong result
// ends the program with exit code 1 (that is what `bench.correctness` runs,
// with `--check`: few iterations, no timing claims).
//
//   call_latency     blocking `call("operator", "add", {i, 1})` on a 2-worker pool
//   async_throughput `call_async` of the same, a bounded number in flight (and
//                    again with runtime_options::pipeline_depth = 4)
//   map              100,000 items through `abs` with `runtime::map` (default
//                    chunking); best of a few runs
//   map_scatter      the same scattered by hand as chunks of 1,000 (one
//                    `eval_async("list(map(abs, xs))")` per chunk, all in flight)
//   cpu_scatter      200 x `sum(range(10**5))` on a 1-worker and a 2-worker pool
//   echo_1MiB        1 MiB bytes there and back (`call("builtins", "bytes", {b})`)
//   start_to_ready   `runtime::start` with one worker, then destroy
//
// Prints one JSON object per line on stdout. Options: --quick, --check.
#include <pyactor/pyactor.hpp>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "stats.hpp"

using namespace pyactor;

namespace {

using clock_type = std::chrono::steady_clock;

struct sizes {
  int latency_warmup;
  int latency_calls;
  int async_calls;
  int async_repeats;
  int async_window;
  int map_items;
  int map_chunk;
  int map_repeats;
  int cpu_tasks;
  int cpu_n;
  int cpu_repeats;
  int echo_bytes;
  int echo_rounds;
  int starts;
};

// warm-up, latency calls, async calls, repeats, window, map items, chunk, repeats,
// cpu tasks, n, repeats, echo bytes, rounds, starts
constexpr sizes full_sizes{500, 5000, 20000, 3, 256, 100000, 1000, 7, 200, 100000, 5, 1 << 20, 100, 20};
constexpr sizes quick_sizes{200, 1000, 10000, 1, 256, 100000, 1000, 3, 200, 100000, 2, 1 << 20, 20, 8};
constexpr sizes check_sizes{5, 20, 500, 1, 64, 5000, 1000, 1, 6, 100000, 1, 1 << 20, 2, 2};

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

using pyactor::bench::percentile;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "pyactor-bench: WRONG RESULT: %s\n", what.c_str());
  std::exit(1);
}

value ok(result<value> r, const char* what) {
  if (!r)
    fail(std::string{what} + " failed: " + r.error().to_string());
  return std::move(r).value();
}

void expect_int(const value& got, int64_t want, const char* what) {
  if (!got.is<int64_t>() || got.as<int64_t>() != want)
    fail(std::string{what} + ": expected " + std::to_string(want) + ", got " + got.to_string());
}

/// `pipeline_depth` 0 keeps the runtime's default.
std::unique_ptr<runtime> start_pool(uint32_t workers, uint32_t pipeline_depth = 0) {
  runtime_options o;
  o.workers = workers;
  if (pipeline_depth > 0)
    o.pipeline_depth = pipeline_depth;
  auto started = runtime::start(o);
  if (!started) {
    std::fprintf(stderr, "pyactor-bench: cannot start a %u-worker pool: %s\n", workers,
                 started.error().to_string().c_str());
    std::exit(2);
  }
  auto rt = std::move(started).value();
  auto slots = rt->status();
  size_t ready = static_cast<size_t>(std::count_if(
    slots.begin(), slots.end(), [](const worker_info& w) { return w.state == "ready"; }));
  if (ready != workers) {
    std::fprintf(stderr, "pyactor-bench: only %zu of %u workers are ready\n", ready, workers);
    std::exit(2);
  }
  return rt;
}

void emit(const std::string& json) {
  std::printf("{\"suite\":\"pyactor\",%s}\n", json.c_str());
  std::fflush(stdout);
}

std::string num(double x, int digits = 3) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

/// Voluntary context switches of every thread of `pid` so far: each one is a
/// thread going to sleep, so their count over N calls is the wake-ups a call costs.
uint64_t voluntary_switches(int64_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  uint64_t total = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.')
        continue;
      std::ifstream in{dir + "/" + e->d_name + "/status"};
      std::string line;
      while (std::getline(in, line))
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
          total += std::stoull(line.substr(line.find(':') + 1));
    }
    ::closedir(d);
  }
  return total;
}

/// The switches of this process and of every worker of `rt`.
std::pair<uint64_t, uint64_t> switches(const std::vector<int64_t>& worker_pids) {
  uint64_t workers = 0;
  for (auto pid : worker_pids)
    workers += voluntary_switches(pid);
  return {voluntary_switches(::getpid()), workers};
}

std::vector<int64_t> worker_pids(runtime& rt) {
  std::vector<int64_t> pids;
  for (auto& w : rt.status())
    pids.push_back(w.pid);
  return pids;
}

std::string sleeps_json(std::pair<uint64_t, uint64_t> before, std::pair<uint64_t, uint64_t> after,
                        int calls) {
  auto per = [&](uint64_t a, uint64_t b) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f", static_cast<double>(b - a) / calls);
    return std::string{buf};
  };
  return ",\"client_sleeps_per_call\":" + per(before.first, after.first)
         + ",\"worker_sleeps_per_call\":" + per(before.second, after.second);
}

// -- workloads ------------------------------------------------------------------

void call_latency(runtime& rt, const sizes& s) {
  for (int i = 0; i < s.latency_warmup; ++i)
    expect_int(ok(rt.call("operator", "add", {i, 1}), "operator.add"), i + 1, "operator.add");
  auto pids = worker_pids(rt);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(s.latency_calls));
  auto before = switches(pids);
  for (int i = 0; i < s.latency_calls; ++i) {
    auto t0 = clock_type::now();
    auto r = rt.call("operator", "add", {i, 1});
    auto t1 = clock_type::now();
    expect_int(ok(std::move(r), "operator.add"), i + 1, "operator.add");
    us.push_back(ms_between(t0, t1) * 1000);
  }
  auto after = switches(pids);
  emit("\"name\":\"call_latency\",\"workers\":2,\"n\":" + std::to_string(us.size())
       + ",\"median_us\":" + num(percentile(us, 0.5)) + ",\"p99_us\":" + num(percentile(us, 0.99))
       + ",\"min_us\":" + num(percentile(us, 0.0)) + sleeps_json(before, after, s.latency_calls));
}

void async_throughput(runtime& rt, const sizes& s, const char* name = "async_throughput") {
  std::deque<std::pair<int, runtime::future>> window;
  auto settle = [&] {
    auto& [i, fut] = window.front();
    expect_int(ok(fut.get(), "operator.add (async)"), i + 1, "operator.add (async)");
    window.pop_front();
  };
  auto pids = worker_pids(rt);
  auto before = switches(pids);
  double best = 1e300;
  for (int r = 0; r < s.async_repeats; ++r) {
    auto t0 = clock_type::now();
    for (int i = 0; i < s.async_calls; ++i) {
      if (window.size() >= static_cast<size_t>(s.async_window))
        settle();
      window.emplace_back(i, rt.call_async("operator", "add", {i, 1}));
    }
    while (!window.empty())
      settle();
    best = std::min(best, ms_between(t0, clock_type::now()) / 1000);
  }
  auto after = switches(pids);
  emit("\"name\":\"" + std::string{name} + "\",\"workers\":2,\"pipeline_depth\":"
       + std::to_string(rt.options().pipeline_depth) + ",\"n\":" + std::to_string(s.async_calls)
       + ",\"repeats\":" + std::to_string(s.async_repeats) + ",\"window\":"
       + std::to_string(s.async_window) + ",\"seconds\":" + num(best, 4)
       + ",\"calls_per_s\":" + num(s.async_calls / best, 0)
       + sleeps_json(before, after, s.async_calls * s.async_repeats));
}

/// Manual scatter until the runtime has a native map (issue 4): one
/// `eval_async` per chunk, every chunk in flight at once, gathered in order.
/// Returns the seconds of one run; every item is checked.
double map_once(runtime& rt, const std::vector<int64_t>& items, size_t chunk) {
  auto t0 = clock_type::now();
  std::vector<runtime::future> chunks;
  for (size_t lo = 0; lo < items.size(); lo += chunk) {
    size_t hi = std::min(items.size(), lo + chunk);
    list xs(items.begin() + static_cast<std::ptrdiff_t>(lo),
            items.begin() + static_cast<std::ptrdiff_t>(hi));
    chunks.push_back(rt.eval_async("list(map(abs, xs))", dict{{{"xs", std::move(xs)}}}));
  }
  list out;
  out.reserve(items.size());
  for (auto& f : chunks) {
    auto part = ok(f.get(), "map chunk");
    if (!part.is<list>())
      fail("map chunk returned a " + part.type_name());
    auto& xs = part.as<list>();
    std::move(xs.begin(), xs.end(), std::back_inserter(out));
  }
  auto t1 = clock_type::now();
  if (out.size() != items.size())
    fail("map returned " + std::to_string(out.size()) + " items for " + std::to_string(items.size()));
  for (size_t i = 0; i < out.size(); ++i)
    expect_int(out[i], static_cast<int64_t>(i), "map item");
  return ms_between(t0, t1) / 1000;
}

/// The native map (issue 4): `runtime::map("builtins", "abs", items)` with
/// its default chunking. Returns the seconds of one run; every item is checked.
double map_native_once(runtime& rt, const std::vector<int64_t>& items) {
  auto t0 = clock_type::now();
  list xs(items.begin(), items.end());
  auto out = rt.map("builtins", "abs", xs);
  auto t1 = clock_type::now();
  if (out.size() != items.size())
    fail("map returned " + std::to_string(out.size()) + " items for " + std::to_string(items.size()));
  for (size_t i = 0; i < out.size(); ++i)
    expect_int(ok(std::move(out[i]), "map item"), static_cast<int64_t>(i), "map item");
  return ms_between(t0, t1) / 1000;
}

void map_items(runtime& rt, const sizes& s) {
  std::vector<int64_t> items(static_cast<size_t>(s.map_items));
  for (size_t i = 0; i < items.size(); ++i)
    items[i] = -static_cast<int64_t>(i);
  auto chunk = static_cast<size_t>(s.map_chunk);
  std::vector<double> runs;
  for (int r = 0; r < s.map_repeats; ++r)
    runs.push_back(map_once(rt, items, chunk));
  double best = percentile(runs, 0.0);
  emit("\"name\":\"map_scatter\",\"workers\":2,\"items\":" + std::to_string(items.size())
       + ",\"chunk\":" + std::to_string(chunk) + ",\"chunks\":"
       + std::to_string((items.size() + chunk - 1) / chunk) + ",\"repeats\":"
       + std::to_string(runs.size()) + ",\"seconds\":" + num(best, 4) + ",\"median_seconds\":"
       + num(percentile(runs, 0.5), 4) + ",\"items_per_s\":" + num(items.size() / best, 0));
  runs.clear();
  for (int r = 0; r < s.map_repeats; ++r)
    runs.push_back(map_native_once(rt, items));
  best = percentile(runs, 0.0);
  emit("\"name\":\"map\",\"workers\":2,\"items\":" + std::to_string(items.size())
       + ",\"chunk\":\"default\",\"repeats\":" + std::to_string(runs.size()) + ",\"seconds\":"
       + num(best, 4) + ",\"median_seconds\":" + num(percentile(runs, 0.5), 4)
       + ",\"items_per_s\":" + num(items.size() / best, 0));
}

/// Best of `cpu_repeats` runs of `cpu_tasks` x sum(range(cpu_n)), all in flight.
double cpu_scatter(runtime& rt, const sizes& s) {
  int64_t n = s.cpu_n;
  int64_t want = n * (n - 1) / 2;
  double best = 1e300;
  for (int r = 0; r < s.cpu_repeats; ++r) {
    auto t0 = clock_type::now();
    std::vector<runtime::future> futs;
    for (int i = 0; i < s.cpu_tasks; ++i)
      futs.push_back(rt.eval_async("sum(range(n))", dict{{{"n", n}}}));
    for (auto& f : futs)
      expect_int(ok(f.get(), "sum(range(n))"), want, "sum(range(n))");
    auto t1 = clock_type::now();
    best = std::min(best, ms_between(t0, t1));
  }
  return best;
}

void warm_every_worker(runtime& rt) {
  for (auto& w : rt.status()) {
    call_options pin;
    pin.worker = w.id;
    expect_int(ok(rt.eval("sum(range(n))", dict{{{"n", 10}}}, pin), "warm-up"), 45, "warm-up");
    expect_int(ok(rt.eval("len(list(map(abs, xs)))", dict{{{"xs", make_list(1)}}}, pin), "warm-up"),
               1, "warm-up");
    expect_int(ok(rt.call("builtins", "abs", {-1}, {}, pin), "warm-up"), 1, "warm-up");
    expect_int(ok(rt.call("operator", "add", {1, 1}, {}, pin), "warm-up"), 2, "warm-up");
  }
}

void echo(runtime& rt, const sizes& s) {
  bytes payload;
  payload.data.resize(static_cast<size_t>(s.echo_bytes));
  for (size_t i = 0; i < payload.data.size(); ++i)
    payload.data[i] = static_cast<uint8_t>(i * 131 + 7);
  value original{payload};
  std::vector<double> ms;
  for (int i = 0; i < s.echo_rounds + 2; ++i) {
    list args{original}; // the copy is made before the clock starts
    auto t0 = clock_type::now();
    auto r = rt.call("builtins", "bytes", std::move(args));
    auto t1 = clock_type::now();
    auto got = ok(std::move(r), "bytes echo");
    if (!(got == original))
      fail("the 1 MiB echo came back different (" + got.type_name() + ")");
    if (i >= 2)
      ms.push_back(ms_between(t0, t1));
  }
  emit("\"name\":\"echo_1MiB\",\"workers\":2,\"n\":" + std::to_string(ms.size())
       + ",\"bytes\":" + std::to_string(s.echo_bytes) + ",\"median_ms\":" + num(percentile(ms, 0.5), 4)
       + ",\"min_ms\":" + num(percentile(ms, 0.0), 4));
}

void start_to_ready(const sizes& s) {
  std::vector<double> start_ms, first_ms, stop_ms;
  for (int i = 0; i < s.starts; ++i) {
    auto t0 = clock_type::now();
    auto rt = start_pool(1);
    auto t1 = clock_type::now();
    expect_int(ok(rt->call("operator", "add", {i, 1}), "first call"), i + 1, "first call");
    auto t2 = clock_type::now();
    rt.reset();
    auto t3 = clock_type::now();
    start_ms.push_back(ms_between(t0, t1));
    first_ms.push_back(ms_between(t0, t2));
    stop_ms.push_back(ms_between(t2, t3));
  }
  emit("\"name\":\"start_to_ready\",\"workers\":1,\"n\":" + std::to_string(start_ms.size())
       + ",\"median_ms\":" + num(percentile(start_ms, 0.5)) + ",\"min_ms\":"
       + num(percentile(start_ms, 0.0)) + ",\"max_ms\":" + num(percentile(start_ms, 1.0))
       + ",\"first_result_median_ms\":" + num(percentile(first_ms, 0.5))
       + ",\"stop_median_ms\":" + num(percentile(stop_ms, 0.5)));
}

} // namespace

int main(int argc, char** argv) {
  const sizes* s = &full_sizes;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      s = &quick_sizes;
    } else if (std::strcmp(argv[i], "--check") == 0) {
      s = &check_sizes;
    } else {
      std::fprintf(stderr, "usage: %s [--quick | --check]\n", argv[0]);
      return 2;
    }
  }
  {
    auto rt = start_pool(2);
    std::string worker_python = "?", worker_pyactor = "?";
    auto versions = ok(rt->versions(), "versions");
    if (auto d = versions.get_if<dict>())
      for (auto& [k, v] : d->items) {
        if (k == value{"python_version"} && v.is<std::string>())
          worker_python = v.as<std::string>();
        if (k == value{"pyactor"} && v.is<std::string>())
          worker_pyactor = v.as<std::string>();
      }
    emit("\"name\":\"versions\",\"worker_python\":\"" + worker_python
         + "\",\"pyactor\":\"" + worker_pyactor + "\"");
    warm_every_worker(*rt);
    call_latency(*rt, *s);
    async_throughput(*rt, *s);
    map_items(*rt, *s);
    echo(*rt, *s);
    double two = cpu_scatter(*rt, *s);
    rt.reset();
    // The same async workload with a shallow pipeline (depth 4, the default
    // before issue 11), to show what the depth buys.
    auto shallow = start_pool(2, 4);
    warm_every_worker(*shallow);
    async_throughput(*shallow, *s, "async_throughput_other_depth");
    shallow.reset();
    auto one_rt = start_pool(1);
    warm_every_worker(*one_rt);
    double one = cpu_scatter(*one_rt, *s);
    emit("\"name\":\"cpu_scatter\",\"tasks\":" + std::to_string(s->cpu_tasks) + ",\"n\":"
         + std::to_string(s->cpu_n) + ",\"ms_1_worker\":" + num(one) + ",\"ms_2_workers\":"
         + num(two) + ",\"speedup\":" + num(one / two));
  }
  start_to_ready(*s);
  return 0;
}
