// The cluster benchmark (bench/cluster_bench.sh): a connected runtime's
// blocking call latency and async throughput over a veth link, next to a bare
// CAF request round trip over the same link and the same figures on a local
// pool, in interleaved rounds.
//
//   pyactor-bench-cluster echo PORT
//       publishes a CAF echo actor (it answers the bytes it gets) on PORT and
//       serves until SIGTERM or SIGINT
//   pyactor-bench-cluster run HEAD ECHO_HOST:PORT ROUNDS CALLS WORKERS
//       prints one JSON line per round and one summary line; with
//       PYACTOR_BENCH_NODE_PID and PYACTOR_BENCH_ECHO_PID set, each round
//       also gives the wake-ups per call of this process and of the node
//       (remote calls) or the echo server (CAF requests)
//   pyactor-bench-cluster async HEAD REPEATS CALLS
//       only remote async calls (64 in flight), REPEATS runs of CALLS, for a
//       profiler attached to this process and the node
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <unistd.h>
#include <fstream>
#include <csignal>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "pyactor/cluster.hpp"
#include "pyactor/pyactor.hpp"
#include "stats.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using pyactor::bench::percentile;

constexpr size_t payload_bytes = 64; // about a small call's request body

/// Voluntary context switches (wake-ups) of every thread of process `pid`
/// (0: this one), from /proc/PID/task/*/status; -1 when unreadable.
long wakeups(long pid) {
  std::string base = pid == 0 ? "/proc/self/task" : "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(base.c_str());
  if (dir == nullptr)
    return -1;
  long total = 0;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.')
      continue;
    std::ifstream in{base + "/" + e->d_name + "/status"};
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        total += std::atol(line.c_str() + 24);
  }
  ::closedir(dir);
  return total;
}

/// Wake-ups per operation in this process and in the peer process `peer`
/// (the node or the echo server) while `run` does `n` operations.
struct wakeup_count {
  double here = 0;
  double peer = 0;
};

template <class F>
wakeup_count count_wakeups(long peer, size_t n, F&& run) {
  auto h0 = wakeups(0);
  auto p0 = peer > 0 ? wakeups(peer) : -1;
  run();
  auto h1 = wakeups(0);
  auto p1 = peer > 0 ? wakeups(peer) : -1;
  wakeup_count c;
  c.here = static_cast<double>(h1 - h0) / static_cast<double>(n);
  c.peer = p0 >= 0 && p1 >= 0 ? static_cast<double>(p1 - p0) / static_cast<double>(n) : -1;
  return c;
}

/// CPU time (ns) every live thread of process `pid` (0: this one) has run,
/// from /proc/PID/task/*/schedstat; -1 when unreadable.
long long cpu_ns(long pid) {
  std::string base = pid == 0 ? "/proc/self/task" : "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(base.c_str());
  if (dir == nullptr)
    return -1;
  long long total = 0;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.')
      continue;
    std::ifstream in{base + "/" + e->d_name + "/schedstat"};
    long long ns = 0;
    if (in >> ns)
      total += ns;
  }
  ::closedir(dir);
  return total;
}

/// The pids whose parent is `parent` (0: this process).
std::vector<long> children_of(long parent) {
  if (parent == 0)
    parent = static_cast<long>(::getpid());
  std::vector<long> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr)
    return out;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    std::ifstream in{std::string{"/proc/"} + e->d_name + "/stat"};
    std::string line;
    if (!std::getline(in, line))
      continue;
    auto close = line.rfind(')');
    if (close == std::string::npos)
      continue;
    std::istringstream rest{line.substr(close + 1)};
    std::string state;
    long ppid = 0;
    if (rest >> state >> ppid && ppid == parent)
      out.push_back(std::atol(e->d_name));
  }
  ::closedir(dir);
  return out;
}

/// CPU µs per operation of a process and of its child processes (workers).
struct cpu_share {
  double self_us = -1;
  double children_us = -1;
};

/// Runs `run` (`n` operations) and answers the CPU µs per operation of
/// this process, its children, process `peer` and the peer's children.
template <class F>
std::pair<cpu_share, cpu_share> count_cpu(long peer, size_t n, F&& run) {
  auto kids = children_of(0);
  auto peer_kids = peer > 0 ? children_of(peer) : std::vector<long>{};
  auto sum = [](const std::vector<long>& pids) {
    long long t = 0;
    for (auto p : pids)
      t += std::max(0LL, cpu_ns(p));
    return t;
  };
  auto h0 = cpu_ns(0), k0 = sum(kids), p0 = peer > 0 ? cpu_ns(peer) : -1, q0 = sum(peer_kids);
  run();
  auto h1 = cpu_ns(0), k1 = sum(kids), p1 = peer > 0 ? cpu_ns(peer) : -1, q1 = sum(peer_kids);
  auto per = [n](long long a, long long b) {
    return a >= 0 && b >= 0 ? static_cast<double>(b - a) / 1e3 / static_cast<double>(n) : -1.0;
  };
  return {cpu_share{per(h0, h1), per(k0, k1)}, cpu_share{per(p0, p1), per(q0, q1)}};
}

double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
}

int serve_echo(uint16_t port) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", int64_t{2});
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](std::vector<char>& bytes) { return std::move(bytes); }};
  });
  auto published = sys.middleman().publish(echo, port, nullptr, true);
  if (!published) {
    std::cerr << "echo: cannot publish on port " << port << ": " << sys.render(published.error())
              << "\n";
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    return 1;
  }
  std::cout << "echo ready " << *published << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

/// `n` sequential CAF requests to `echo` from an event-based actor; the
/// latencies in µs (the calling thread waits on a promise).
std::vector<double> caf_round_trips(caf::actor_system& sys, const caf::actor& echo, size_t n) {
  auto promise = std::make_shared<std::promise<std::vector<double>>>();
  auto future = promise->get_future();
  sys.spawn([=](caf::event_based_actor* self) {
    struct state {
      std::vector<double> lat;
      clock_type::time_point t0;
    };
    auto st = std::make_shared<state>();
    auto step = std::make_shared<std::function<void()>>();
    *step = [=] {
      if (st->lat.size() == n) {
        promise->set_value(std::move(st->lat));
        return;
      }
      st->t0 = clock_type::now();
      self->request(echo, std::chrono::seconds(10), std::vector<char>(payload_bytes, 'x'))
        .then([=](std::vector<char>&) {
                st->lat.push_back(us_since(st->t0));
                (*step)();
              },
              [=](caf::error&) { promise->set_value({}); });
    };
    (*step)();
  });
  return future.get();
}

std::vector<double> blocking_calls(pyactor::runtime& rt, size_t n) {
  std::vector<double> lat;
  lat.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    auto r = rt.call("operator", "add", {1, 2});
    if (!r || r.value() != pyactor::value{int64_t{3}}) {
      std::cerr << "call failed: " << (r ? r.value().to_string() : r.error().to_string()) << "\n";
      return {};
    }
    lat.push_back(us_since(t0));
  }
  return lat;
}

/// Calls per second with `window` calls in flight (callbacks submit the next).
double async_throughput(pyactor::runtime& rt, size_t n, size_t window) {
  struct run {
    std::atomic<size_t> sent{0};
    std::atomic<size_t> done{0};
    std::atomic<size_t> failed{0};
    std::promise<void> finished;
  };
  auto r = std::make_shared<run>();
  std::function<void()> submit;
  auto self_submit = std::make_shared<std::function<void()>>();
  *self_submit = [&rt, r, n, self_submit] {
    if (r->sent.fetch_add(1) >= n)
      return;
    rt.call_async("operator", "add", {1, 2}, {}, {}, [r, n, self_submit](pyactor::result<pyactor::value> x) {
      if (!x)
        r->failed.fetch_add(1);
      (*self_submit)();
      if (r->done.fetch_add(1) + 1 == n)
        r->finished.set_value();
    });
  };
  auto t0 = clock_type::now();
  for (size_t i = 0; i < window; ++i)
    (*self_submit)();
  r->finished.get_future().wait();
  double seconds = us_since(t0) / 1e6;
  *self_submit = nullptr; // breaks the cycle
  if (r->failed.load() > 0)
    std::cerr << r->failed.load() << " async calls failed\n";
  return static_cast<double>(n) / seconds;
}

int run(const std::string& head, const std::string& echo_at, int rounds, size_t calls,
        uint32_t workers) {
  auto remote = pyactor::runtime::connect(head);
  if (!remote) {
    std::cerr << "connect: " << remote.error().to_string() << "\n";
    return 1;
  }
  pyactor::runtime_options lo;
  lo.workers = workers;
  auto local = pyactor::runtime::start(lo);
  if (!local) {
    std::cerr << "local pool: " << local.error().to_string() << "\n";
    return 1;
  }
  auto ep = pyactor::cluster::parse_endpoint(echo_at);
  if (!ep) {
    std::cerr << ep.error().message << "\n";
    return 2;
  }
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", int64_t{2});
  caf::actor_system sys{cfg};
  auto echo = sys.middleman().remote_actor(ep.value().host, ep.value().port);
  if (!echo) {
    std::cerr << "echo at " << echo_at << ": " << sys.render(echo.error()) << "\n";
    return 1;
  }
  // Warm up every path once.
  caf_round_trips(sys, *echo, 200);
  blocking_calls(*remote.value(), 200);
  blocking_calls(*local.value(), 200);
  async_throughput(*remote.value(), calls, 64);
  async_throughput(*local.value(), calls, 64);
  // r_floor: the remote call against what it must at least cost, the CAF
  // round trip to the node plus the node's local call.
  std::vector<double> r_block, r_async, r_floor;
  // The node's and the echo server's pids (bench/cluster_bench.sh), for
  // their wake-ups per call.
  auto env_pid = [](const char* name) {
    auto* v = std::getenv(name);
    return v != nullptr ? std::atol(v) : 0L;
  };
  long node_pid = env_pid("PYACTOR_BENCH_NODE_PID");
  long echo_pid = env_pid("PYACTOR_BENCH_ECHO_PID");
  for (int k = 0; k < rounds; ++k) {
    double caf_rt = 0, remote_call = 0;
    auto caf_wake = count_wakeups(echo_pid, calls, [&] {
      caf_rt = percentile(caf_round_trips(sys, *echo, calls), 0.5);
    });
    auto remote_wake = count_wakeups(node_pid, calls, [&] {
      remote_call = percentile(blocking_calls(*remote.value(), calls), 0.5);
    });
    auto local_call = percentile(blocking_calls(*local.value(), calls), 0.5);
    double remote_tp = 0, local_tp = 0;
    auto remote_cpu = count_cpu(node_pid, calls * 4, [&] {
      remote_tp = async_throughput(*remote.value(), calls * 4, 64);
    });
    auto local_cpu = count_cpu(0, calls * 4, [&] {
      local_tp = async_throughput(*local.value(), calls * 4, 64);
    });
    r_block.push_back(remote_call / caf_rt);
    r_async.push_back(remote_tp / local_tp);
    r_floor.push_back(remote_call / (caf_rt + local_call));
    std::printf("{\"suite\": \"cluster\", \"round\": %d, \"caf_round_trip_us\": %.1f, "
                "\"remote_call_us\": %.1f, \"local_call_us\": %.1f, \"remote_async_per_s\": %.0f, "
                "\"local_async_per_s\": %.0f, \"remote_vs_caf\": %.2f, "
                "\"remote_vs_local_async\": %.2f, \"remote_vs_caf_plus_local\": %.2f, "
                "\"caf_wakeups_client\": %.2f, \"caf_wakeups_echo\": %.2f, "
                "\"remote_wakeups_client\": %.2f, \"remote_wakeups_node\": %.2f, "
                "\"remote_async_cpu_client_us\": %.2f, \"remote_async_cpu_node_us\": %.2f, "
                "\"remote_async_cpu_node_workers_us\": %.2f, \"local_async_cpu_client_us\": %.2f, "
                "\"local_async_cpu_workers_us\": %.2f}\n",
                k + 1, caf_rt, remote_call, local_call, remote_tp, local_tp, r_block.back(),
                r_async.back(), r_floor.back(), caf_wake.here, caf_wake.peer, remote_wake.here,
                remote_wake.peer, remote_cpu.first.self_us, remote_cpu.second.self_us,
                remote_cpu.second.children_us, local_cpu.first.self_us,
                local_cpu.first.children_us);
    std::fflush(stdout);
  }
  std::printf("{\"suite\": \"cluster\", \"summary\": true, \"remote_vs_caf_median\": %.2f, "
              "\"remote_vs_caf_min\": %.2f, \"remote_vs_caf_max\": %.2f, "
              "\"remote_vs_local_async_median\": %.2f, \"remote_vs_local_async_min\": %.2f, "
              "\"remote_vs_local_async_max\": %.2f, \"remote_vs_floor_median\": %.2f, "
              "\"remote_vs_floor_min\": %.2f, \"remote_vs_floor_max\": %.2f}\n",
              percentile(r_block, 0.5), percentile(r_block, 0), percentile(r_block, 1),
              percentile(r_async, 0.5), percentile(r_async, 0), percentile(r_async, 1),
              percentile(r_floor, 0.5), percentile(r_floor, 0), percentile(r_floor, 1));
  return 0;
}

/// Wake-ups and CPU ns of each thread of this process, by "tid comm".
std::map<std::string, std::pair<long, long long>> per_thread() {
  std::map<std::string, std::pair<long, long long>> out;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr)
    return out;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.')
      continue;
    std::string base = std::string{"/proc/self/task/"} + e->d_name;
    std::ifstream comm_in{base + "/comm"};
    std::string comm;
    std::getline(comm_in, comm);
    std::ifstream status{base + "/status"};
    std::string line;
    long sleeps = 0;
    while (std::getline(status, line))
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        sleeps = std::atol(line.c_str() + 24);
    std::ifstream sched{base + "/schedstat"};
    long long ns = 0;
    sched >> ns;
    out[std::string{e->d_name} + " " + comm] = {sleeps, ns};
  }
  ::closedir(dir);
  return out;
}

/// Only remote async calls, `repeats` runs of `calls` (for profiling the
/// client and the node): one line of calls per second each.
int async_only(const std::string& head, int repeats, size_t calls) {
  auto remote = pyactor::runtime::connect(head);
  if (!remote) {
    std::cerr << "connect: " << remote.error().to_string() << "\n";
    return 1;
  }
  async_throughput(*remote.value(), calls, 64);
  auto t0 = per_thread();
  for (int k = 0; k < repeats; ++k) {
    auto w0 = wakeups(0);
    auto c0 = cpu_ns(0);
    auto tp = async_throughput(*remote.value(), calls, 64);
    auto w1 = wakeups(0);
    auto c1 = cpu_ns(0);
    std::printf("remote async: %.0f calls/s; this process: %.2f wake-ups and %.2f CPU us per call\n",
                tp, static_cast<double>(w1 - w0) / static_cast<double>(calls),
                static_cast<double>(c1 - c0) / 1e3 / static_cast<double>(calls));
  }
  auto n = static_cast<double>(calls) * repeats;
  for (auto& [name, v] : per_thread()) {
    auto before = t0.count(name) ? t0[name] : std::pair<long, long long>{0, 0};
    if (v.second - before.second > 1000000)
      std::printf("  thread %-28s %.3f wake-ups, %.2f CPU us per call\n", name.c_str(),
                  (v.first - before.first) / n, (v.second - before.second) / 1e3 / n);
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "echo" && argc == 3)
    return serve_echo(static_cast<uint16_t>(std::stoi(argv[2])));
  if (mode == "run" && argc == 7)
    return run(argv[2], argv[3], std::stoi(argv[4]), std::stoul(argv[5]),
               static_cast<uint32_t>(std::stoul(argv[6])));
  if (mode == "async" && argc == 5)
    return async_only(argv[2], std::stoi(argv[3]), std::stoul(argv[4]));
  std::cerr << "usage: pyactor-bench-cluster echo PORT\n"
               "       pyactor-bench-cluster async HEAD REPEATS CALLS\n"
               "       pyactor-bench-cluster run HEAD ECHO_HOST:PORT ROUNDS CALLS WORKERS\n";
  return 2;
}
