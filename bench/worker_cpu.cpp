// The worker process's CPU per call: async `operator.add` calls (256 in
// flight, as 8 Erlang callers x 32 do through the bridge) on a 2-worker pool,
// the workers' CPU time (every thread's /proc/PID/task/*/schedstat, in ns:
// robust on a shared machine, where throughput is not) divided by the calls,
// with their write-like and read-like syscalls and sleeps per call. With
// --compare-worker PATH, a second pool runs that worker build in the same
// rounds, in alternating order; the report gives each round's ratio (this
// build's CPU per call / the other's), their median and range.
//   pyactor-bench-worker-cpu [--worker PATH] [--compare-worker PATH] [--rounds N] [--calls N]
//                            [--check]
// (--worker: the worker "this" pool runs, default the one beside this program)
#include <dirent.h>
#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cpu_sample.hpp"
#include "pyactor/pyactor.hpp"
#include "stats.hpp"

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "pyactor-bench-worker-cpu: %s\n", why.c_str());
  std::exit(1);
}

/// CPU time of every thread of `pid`, in ns (0 when it is gone).
uint64_t cpu_ns(pid_t pid) {
  uint64_t sum = 0;
  std::string base = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = ::opendir(base.c_str())) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.')
        continue;
      std::ifstream in{base + "/" + e->d_name + "/schedstat"};
      uint64_t ns = 0;
      if (in >> ns)
        sum += ns;
    }
    ::closedir(d);
  }
  return sum;
}

struct pool {
  std::string name;
  std::unique_ptr<pyactor::runtime> rt;
  std::vector<pid_t> pids;
};

pool start_pool(std::string name, const std::string& worker) {
  pyactor::runtime_options o;
  o.workers = 2;
  o.worker_executable = worker;
  o.log = [](const std::string&) {};
  auto started = pyactor::runtime::start(o);
  if (!started)
    die("cannot start a 2-worker pool (" + name + "): " + started.error().to_string());
  pool p{std::move(name), std::move(started).value(), {}};
  for (int i = 0; i < 64; ++i) {
    auto r = p.rt->call("operator", "add", {i, 1});
    if (!r || r.value() != pyactor::value{i + 1})
      die("warm-up call failed on " + p.name);
  }
  for (auto& w : p.rt->status())
    p.pids.push_back(static_cast<pid_t>(w.pid));
  return p;
}

struct sample {
  double cpu_us = 0;   // workers' CPU per call
  double writes = 0;   // their write-like syscalls per call
  double reads = 0;    // read-like
  double sleeps = 0;   // voluntary context switches
  double calls_s = 0;  // throughput (noisy on a shared machine)
};

sample run_round(pool& p, int n, size_t window) {
  uint64_t ns0 = 0;
  pyactor::bench::proc_counters c0;
  for (auto pid : p.pids) {
    ns0 += cpu_ns(pid);
    c0 += pyactor::bench::read_counters(pid);
  }
  std::deque<std::pair<int, pyactor::runtime::future>> flying;
  auto settle = [&] {
    auto& [i, fut] = flying.front();
    auto r = fut.get();
    if (!r || r.value() != pyactor::value{i + 1})
      die("operator.add(" + std::to_string(i) + ", 1) failed or was wrong on " + p.name);
    flying.pop_front();
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (flying.size() >= window)
      settle();
    flying.emplace_back(i, p.rt->call_async("operator", "add", {i, 1}));
  }
  while (!flying.empty())
    settle();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t ns1 = 0;
  pyactor::bench::proc_counters c1;
  for (auto pid : p.pids) {
    ns1 += cpu_ns(pid);
    c1 += pyactor::bench::read_counters(pid);
  }
  sample s;
  s.cpu_us = static_cast<double>(ns1 - ns0) / 1000.0 / n;
  s.writes = static_cast<double>(c1.writes - c0.writes) / n;
  s.reads = static_cast<double>(c1.reads - c0.reads) / n;
  s.sleeps = static_cast<double>(c1.sleeps - c0.sleeps) / n;
  s.calls_s = n / secs;
  return s;
}

void print_round(int round, const pool& p, const sample& s) {
  std::printf("{\"suite\":\"worker_cpu\",\"name\":\"round\",\"round\":%d,\"worker\":\"%s\","
              "\"worker_cpu_us_per_call\":%.3f,\"writes_per_call\":%.3f,\"reads_per_call\":%.3f,"
              "\"sleeps_per_call\":%.3f,\"calls_per_s\":%.0f}\n",
              round, p.name.c_str(), s.cpu_us, s.writes, s.reads, s.sleeps, s.calls_s);
}

} // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  int calls = 40000;
  std::string compare;
  std::string mine;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--rounds" && has_value) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--calls" && has_value) {
      calls = std::atoi(argv[++i]);
    } else if (a == "--worker" && has_value) {
      mine = argv[++i];
    } else if (a == "--compare-worker" && has_value) {
      compare = argv[++i];
    } else if (a == "--check" || a == "--quick") {
      rounds = 2;
      calls = 2000;
    } else {
      std::fprintf(stderr, "usage: %s [--worker PATH] [--compare-worker PATH] [--rounds N] [--calls N] "
                   "[--check]\n",
                   argv[0]);
      return 2;
    }
  }
  if (rounds < 1 || calls < 1)
    die("--rounds and --calls expect positive integers");
  std::vector<pool> pools;
  pools.push_back(start_pool("this", mine));
  if (!compare.empty())
    pools.push_back(start_pool("compare", compare));
  std::vector<std::vector<double>> cpu(pools.size());
  std::vector<double> ratios;
  for (int round = 0; round < rounds; ++round) {
    std::vector<sample> got(pools.size());
    for (size_t k = 0; k < pools.size(); ++k) {
      size_t which = round % 2 == 0 ? k : pools.size() - 1 - k; // alternate the order
      got[which] = run_round(pools[which], calls, 256);
      print_round(round, pools[which], got[which]);
    }
    for (size_t k = 0; k < pools.size(); ++k)
      cpu[k].push_back(got[k].cpu_us);
    if (pools.size() == 2)
      ratios.push_back(got[0].cpu_us / got[1].cpu_us);
  }
  for (size_t k = 0; k < pools.size(); ++k)
    std::printf("{\"suite\":\"worker_cpu\",\"name\":\"worker_cpu_us_per_call\",\"worker\":\"%s\","
                "\"per_round\":%s}\n",
                pools[k].name.c_str(), pyactor::bench::spread_json(cpu[k]).c_str());
  if (!ratios.empty())
    std::printf("{\"suite\":\"worker_cpu\",\"name\":\"this_over_compare\",\"per_round\":%s}\n",
                pyactor::bench::spread_json(ratios).c_str());
  return 0;
}
