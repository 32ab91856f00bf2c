// pyactor-bench-interleaved: pyactor against its floor and against
// multiprocessing.Pool in the SAME rounds, so that a ratio never compares a
// quiet moment of one side with a busy moment of the other.
//
// Every round runs, in an order that alternates from round to round:
//   pipe floor     64 B ping-pong with a child process over a pipe pair
//   call latency   blocking `call("operator", "add", {i, 1})`, one at a time
//   async          `call_async` of the same, at most 256 in flight, once per
//                  pipeline depth asked for (one 2-worker pool per depth; with
//                  --compare-worker PATH also one per depth on that worker
//                  build, labelled "DEPTH B", to compare two builds; that
//                  worker must take --reply-fd, i.e. be built from a tree
//                  with the reply pipe, or it refuses to start)
//   Pool async     the same through multiprocessing.Pool(2).apply_async
//                  (bench/peers.py --serve pool, kept running across rounds)
//   map            `runtime::map("builtins", "abs", items)`, and Pool.map
// and each round yields the ratios call ÷ pipe, async ÷ Pool, map ÷ Pool.
// The summary gives the median of the per-round ratios and their spread
// (min, max), the workers' read and write syscalls and sleeps per async call
// (counts that load does not blur), and which cores each process ran on: sched_getcpu in the pipe
// floor's two processes and in the calling thread (every call), the last
// core of the workers and of the Pool's processes from /proc/PID/stat.
//
// Prints JSON lines (suite "interleaved") for bench/report.py. Every result
// is checked; a wrong one exits with code 1.
//
// Usage: pyactor-bench-interleaved --peers bench/peers.py [--python PATH]
//          [--rounds N] [--depths 4,16,64] [--quick | --check]
#include <pyactor/pyactor.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cpu_sample.hpp"
#include "fd_io.hpp"
#include "stats.hpp"

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;
using pyactor::bench::cpu_counts;
using pyactor::bench::percentile;

double us_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pyactor-bench-interleaved: %s\n", what.c_str());
  std::exit(2);
}

[[noreturn]] void wrong(const std::string& what) {
  std::fprintf(stderr, "pyactor-bench-interleaved: WRONG RESULT: %s\n", what.c_str());
  std::exit(1);
}

using pyactor::bench::read_all;
using pyactor::bench::write_all;

// -- the pipe floor -------------------------------------------------------------------

/// A forked child that echoes 64-byte messages over a pipe pair, writing the
/// core it runs on into bytes 4..7 of each reply. Forked before the runtime
/// starts (no threads yet); ends at the end of its input, and is reaped by pid.
class echo_child {
public:
  static constexpr size_t size = 64;

  echo_child() {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0)
      die(std::string{"pipe: "} + std::strerror(errno));
    pid_ = ::fork();
    if (pid_ < 0)
      die(std::string{"fork: "} + std::strerror(errno));
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      char buf[size];
      while (read_all(down[0], buf, size)) {
        int cpu = ::sched_getcpu();
        std::memcpy(buf + 4, &cpu, sizeof(cpu));
        if (!write_all(up[1], buf, size))
          break;
      }
      ::_exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_ = down[1];
    from_ = up[0];
  }

  ~echo_child() {
    ::close(to_);
    ::close(from_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  /// `n` round trips; returns their median in µs and counts the cores.
  double round(int n, cpu_counts& parent, cpu_counts& child, long& same_core) {
    std::vector<double> us;
    us.reserve(static_cast<size_t>(n));
    char out[size] = {}, in[size];
    for (int i = 0; i < n; ++i) {
      out[0] = static_cast<char>(i);
      auto t0 = clock_type::now();
      if (!write_all(to_, out, size) || !read_all(from_, in, size))
        die("the pipe echo child went away");
      auto t1 = clock_type::now();
      us.push_back(us_between(t0, t1));
      if (in[0] != out[0])
        wrong("the pipe echo came back different");
      int mine = ::sched_getcpu(), theirs = -1;
      std::memcpy(&theirs, in + 4, sizeof(theirs));
      ++parent[mine];
      ++child[theirs];
      same_core += mine == theirs ? 1 : 0;
    }
    return percentile(us, 0.5);
  }

private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
};

// -- the Pool side --------------------------------------------------------------------

/// `python3 bench/peers.py --serve pool`: a multiprocessing.Pool(2) that runs a
/// timed workload per command line and answers with one JSON line.
class pool_server {
public:
  pool_server(const std::string& python, const std::string& peers) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      die(std::string{"pipe: "} + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::vector<std::string> args{python, peers, "--serve", "pool"};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, python.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0)
      die("cannot start " + python + " " + peers + ": " + std::strerror(rc));
    to_ = in[1];
    from_ = ::fdopen(out[0], "r");
    auto hello = line();
    if (hello.find("\"ready\": true") == std::string::npos)
      die("the Pool server did not start (it said '" + hello + "'); run " + python + " " + peers
          + " --serve pool by hand to see why");
  }

  ~pool_server() {
    write_all(to_, "quit\n", 5);
    ::close(to_);
    std::fclose(from_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  /// Runs `command` ("async N", "map N"); returns its seconds and counts the
  /// last core of each of the Pool's processes.
  double run(const std::string& command, cpu_counts& cpus) {
    std::string c = command + "\n";
    if (!write_all(to_, c.data(), c.size()))
      die("the Pool server went away");
    auto reply = line();
    auto at = reply.find("\"seconds\": ");
    if (at == std::string::npos)
      die("the Pool server answered '" + command + "' with '" + reply + "'");
    double seconds = std::strtod(reply.c_str() + at + 11, nullptr);
    auto list = reply.find("\"cpus\": [");
    if (list != std::string::npos) {
      const char* p = reply.c_str() + list + 9;
      while (*p != ']' && *p != '\0') {
        char* end = nullptr;
        long cpu = std::strtol(p, &end, 10);
        if (end == p)
          break;
        ++cpus[static_cast<int>(cpu)];
        p = end;
        while (*p == ',' || *p == ' ')
          ++p;
      }
    }
    return seconds;
  }

private:
  std::string line() {
    std::string s;
    int ch;
    while ((ch = std::fgetc(from_)) != EOF && ch != '\n')
      s.push_back(static_cast<char>(ch));
    if (ch == EOF && s.empty())
      die("the Pool server ended (see its stderr above)");
    return s;
  }

  pid_t pid_ = -1;
  int to_ = -1;
  FILE* from_ = nullptr;
};

// -- pyactor's side ---------------------------------------------------------------------

pyactor::value checked(pyactor::result<pyactor::value> r, const char* what) {
  if (!r)
    wrong(std::string{what} + " failed: " + r.error().to_string());
  return std::move(r).value();
}

void expect_int(const pyactor::value& got, int64_t want, const char* what) {
  if (!got.is<int64_t>() || got.as<int64_t>() != want)
    wrong(std::string{what} + ": expected " + std::to_string(want) + ", got " + got.to_string());
}

/// `depth` 0 keeps the default; `worker` empty keeps the worker beside us.
std::unique_ptr<pyactor::runtime> start_pool(uint32_t depth, const std::string& worker = "") {
  pyactor::runtime_options o;
  o.workers = 2;
  if (depth > 0)
    o.pipeline_depth = depth;
  o.worker_executable = worker;
  auto started = pyactor::runtime::start(o);
  if (!started)
    die("cannot start a 2-worker pool: " + started.error().to_string());
  auto rt = std::move(started).value();
  for (int i = 0; i < 64; ++i) // every worker imports operator and runs abs once
    expect_int(checked(rt->call("operator", "add", {i, 1}), "warm-up"), i + 1, "warm-up");
  return rt;
}

std::vector<pid_t> worker_pids(pyactor::runtime& rt) {
  std::vector<pid_t> pids;
  for (auto& w : rt.status())
    pids.push_back(static_cast<pid_t>(w.pid));
  return pids;
}

/// `n` blocking calls; returns their median in µs. Counts the calling
/// thread's core at every call and the workers' last core every 50 calls
/// (outside the timed part).
double latency_round(pyactor::runtime& rt, const std::vector<pid_t>& workers, int n,
                     cpu_counts& caller, cpu_counts& worker_cpus) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    auto r = rt.call("operator", "add", {i, 1});
    auto t1 = clock_type::now();
    expect_int(checked(std::move(r), "operator.add"), i + 1, "operator.add");
    us.push_back(us_between(t0, t1));
    ++caller[::sched_getcpu()];
    if (i % 50 == 0)
      for (auto pid : workers)
        ++worker_cpus[pyactor::bench::last_cpu(pid)];
  }
  return percentile(us, 0.5);
}

/// `n` calls with at most `window` in flight; returns calls per second.
double async_round(pyactor::runtime& rt, int n, size_t window) {
  std::deque<std::pair<int, pyactor::runtime::future>> flying;
  auto settle = [&] {
    auto& [i, fut] = flying.front();
    expect_int(checked(fut.get(), "operator.add (async)"), i + 1, "operator.add (async)");
    flying.pop_front();
  };
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i) {
    if (flying.size() >= window)
      settle();
    flying.emplace_back(i, rt.call_async("operator", "add", {i, 1}));
  }
  while (!flying.empty())
    settle();
  return n / (us_between(t0, clock_type::now()) / 1e6);
}

/// `runtime::map` of abs over `items` (-i → i); returns items per second.
double map_round(pyactor::runtime& rt, const std::vector<int64_t>& items) {
  auto t0 = clock_type::now();
  pyactor::list xs(items.begin(), items.end());
  auto out = rt.map("builtins", "abs", xs);
  auto t1 = clock_type::now();
  if (out.size() != items.size())
    wrong("map returned " + std::to_string(out.size()) + " items for "
          + std::to_string(items.size()));
  for (size_t i = 0; i < out.size(); ++i)
    expect_int(checked(std::move(out[i]), "map item"), static_cast<int64_t>(i), "map item");
  return static_cast<double>(items.size()) / (us_between(t0, t1) / 1e6);
}

/// The counters of every worker in `pids`, summed.
pyactor::bench::proc_counters workers_counters(const std::vector<pid_t>& pids) {
  pyactor::bench::proc_counters sum;
  for (auto pid : pids)
    sum += pyactor::bench::read_counters(pid);
  return sum;
}

struct settings {
  int rounds = 9;
  int calls = 2000;
  int async_calls = 10000;
  int map_items = 100000;
  std::vector<uint32_t> depths{4, 16, 64};
  std::string python = "/usr/bin/python3";
  std::string peers;
  std::string compare_worker; // a second pyactor-worker build, run at each depth too
};

std::vector<uint32_t> parse_depths(const std::string& text) {
  std::vector<uint32_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    auto item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    unsigned long d = std::strtoul(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || d == 0 || d > 1024)
      die("--depths expects pipeline depths from 1 to 1024 separated by commas, got '" + text
          + "'");
    out.push_back(static_cast<uint32_t>(d));
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return out;
}

int positive(const char* flag, const char* text) {
  char* end = nullptr;
  long x = std::strtol(text, &end, 10);
  if (*end != '\0' || x < 1 || x > 10000000)
    die(std::string{flag} + " expects a positive count, got '" + text + "'");
  return static_cast<int>(x);
}

std::string num(double x, int digits = 3) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, x);
  return buf;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--quick") {
      s.rounds = 3;
      s.calls = 1000;
      s.async_calls = 5000;
    } else if (a == "--check") {
      s.rounds = 2;
      s.calls = 20;
      s.async_calls = 300;
      s.map_items = 2000;
    } else if (a == "--rounds" && has_value) {
      s.rounds = positive("--rounds", argv[++i]);
    } else if (a == "--depths" && has_value) {
      s.depths = parse_depths(argv[++i]);
    } else if (a == "--python" && has_value) {
      s.python = argv[++i];
    } else if (a == "--peers" && has_value) {
      s.peers = argv[++i];
    } else if (a == "--compare-worker" && has_value) {
      s.compare_worker = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s --peers bench/peers.py [--python PATH] [--rounds N]\n"
                   "          [--depths 4,16,64] [--compare-worker PATH] [--quick | --check]\n",
                   argv[0]);
      return 2;
    }
  }
  if (s.peers.empty())
    die("--peers PATH (bench/peers.py) is required: it runs the Pool side");
  ::signal(SIGPIPE, SIG_IGN);

  echo_child echo; // forked before any thread exists
  pool_server pool{s.python, s.peers};
  auto main_rt = start_pool(0);
  uint32_t default_depth = main_rt->options().pipeline_depth;
  // One pool per depth asked for ("4"); the default depth's is the main one.
  // With --compare-worker, one more per depth on that worker ("4 B").
  std::map<std::string, pyactor::runtime*> by_depth{{std::to_string(default_depth), main_rt.get()}};
  std::vector<std::unique_ptr<pyactor::runtime>> extra;
  for (auto d : s.depths)
    if (by_depth.count(std::to_string(d)) == 0) {
      extra.push_back(start_pool(d));
      by_depth[std::to_string(d)] = extra.back().get();
    }
  if (!s.compare_worker.empty()) {
    std::vector<uint32_t> depths = s.depths;
    depths.push_back(default_depth);
    for (auto d : depths)
      if (by_depth.count(std::to_string(d) + " B") == 0) {
        extra.push_back(start_pool(d, s.compare_worker));
        by_depth[std::to_string(d) + " B"] = extra.back().get();
      }
  }
  auto workers = worker_pids(*main_rt);
  std::vector<int64_t> items(static_cast<size_t>(s.map_items));
  for (size_t i = 0; i < items.size(); ++i)
    items[i] = -static_cast<int64_t>(i);

  cpu_counts pipe_parent, pipe_child, caller, worker_cpus, pool_cpus;
  long same_core = 0, pipe_trips = 0;
  uint64_t call_client_sleeps = 0, call_worker_sleeps = 0; // over the blocking calls
  std::vector<double> pipe_us, call_us, latency_ratio, pool_async, pyactor_map, pool_map, map_ratio;
  std::map<std::string, std::vector<double>> async_rate, async_ratio;
  std::map<std::string, pyactor::bench::proc_counters> async_counts; // workers, all rounds
  const std::string async_cmd = "async " + std::to_string(s.async_calls);
  const std::string map_cmd = "map " + std::to_string(s.map_items);

  for (int r = 0; r < s.rounds; ++r) {
    bool flip = r % 2 == 1; // odd rounds run each pair the other way round
    double pipe = 0, call = 0, pool_rate = 0, map_rate = 0, pool_map_rate = 0;
    std::map<std::string, double> rates;
    auto run_pipe = [&] {
      pipe = echo.round(s.calls, pipe_parent, pipe_child, same_core);
      pipe_trips += s.calls;
    };
    auto run_call = [&] {
      auto client_before = pyactor::bench::read_counters(::getpid());
      auto workers_before = workers_counters(workers);
      call = latency_round(*main_rt, workers, s.calls, caller, worker_cpus);
      auto client_after = pyactor::bench::read_counters(::getpid());
      auto workers_after = workers_counters(workers);
      call_client_sleeps += client_after.sleeps - client_before.sleeps;
      call_worker_sleeps += workers_after.sleeps - workers_before.sleeps;
    };
    auto run_async = [&] {
      std::vector<std::string> order;
      for (auto& [d, rt] : by_depth)
        order.push_back(d);
      if (flip)
        std::reverse(order.begin(), order.end());
      for (auto d : order) {
        auto pids = worker_pids(*by_depth[d]);
        auto before = workers_counters(pids);
        rates[d] = async_round(*by_depth[d], s.async_calls, 256);
        auto after = workers_counters(pids);
        auto& c = async_counts[d];
        c.reads += after.reads - before.reads;
        c.writes += after.writes - before.writes;
        c.sleeps += after.sleeps - before.sleeps;
      }
    };
    auto run_pool_async = [&] { pool_rate = s.async_calls / pool.run(async_cmd, pool_cpus); };
    auto run_map = [&] { map_rate = map_round(*main_rt, items); };
    auto run_pool_map = [&] { pool_map_rate = s.map_items / pool.run(map_cmd, pool_cpus); };
    if (!flip) {
      run_pipe(), run_call(), run_async(), run_pool_async(), run_map(), run_pool_map();
    } else {
      run_call(), run_pipe(), run_pool_async(), run_async(), run_pool_map(), run_map();
    }
    pipe_us.push_back(pipe);
    call_us.push_back(call);
    latency_ratio.push_back(call / pipe);
    pool_async.push_back(pool_rate);
    pyactor_map.push_back(map_rate);
    pool_map.push_back(pool_map_rate);
    map_ratio.push_back(map_rate / pool_map_rate);
    std::string async_json;
    for (auto& [d, rate] : rates) {
      async_rate[d].push_back(rate);
      async_ratio[d].push_back(rate / pool_rate);
      async_json += (async_json.empty() ? "\"" : ",\"") + d + "\":" + num(rate, 0);
    }
    std::printf("{\"suite\":\"interleaved\",\"name\":\"round\",\"round\":%d,\"pipe_us\":%s,"
                "\"call_us\":%s,\"call_per_pipe\":%s,\"async_calls_per_s\":{%s},"
                "\"pool_async_calls_per_s\":%s,\"map_items_per_s\":%s,"
                "\"pool_map_items_per_s\":%s}\n",
                r + 1, num(pipe).c_str(), num(call).c_str(), num(call / pipe).c_str(),
                async_json.c_str(), num(pool_rate, 0).c_str(), num(map_rate, 0).c_str(),
                num(pool_map_rate, 0).c_str());
    std::fflush(stdout);
  }

  using pyactor::bench::cpu_json;
  using pyactor::bench::spread_json;
  // With --compare-worker: this build ÷ the other, per round, at each depth.
  std::string compare_json;
  for (auto& [d, rates] : async_rate) {
    auto other = async_rate.find(d + " B");
    if (d.find(' ') != std::string::npos || other == async_rate.end())
      continue;
    std::vector<double> per_round;
    for (size_t i = 0; i < rates.size() && i < other->second.size(); ++i)
      per_round.push_back(rates[i] / other->second[i]);
    compare_json += (compare_json.empty() ? "\"" : ",\"") + d + "\":" + spread_json(per_round);
  }
  // Each depth ÷ the default depth, per round (the pipeline's own effect).
  std::string per_default_json;
  const auto& base_rates = async_rate[std::to_string(default_depth)];
  for (auto& [d, rates] : async_rate) {
    std::vector<double> per_round;
    for (size_t i = 0; i < rates.size() && i < base_rates.size(); ++i)
      per_round.push_back(rates[i] / base_rates[i]);
    per_default_json += (per_default_json.empty() ? "\"" : ",\"") + d + "\":"
                        + spread_json(per_round);
  }
  std::string async_json, async_ratio_json, per_call_json;
  double calls_total = static_cast<double>(s.async_calls) * s.rounds;
  for (auto& [d, c] : async_counts)
    per_call_json += (per_call_json.empty() ? "\"" : ",\"") + d + "\":{\"reads\":"
                     + num(c.reads / calls_total) + ",\"writes\":" + num(c.writes / calls_total)
                     + ",\"sleeps\":" + num(c.sleeps / calls_total) + "}";
  for (auto& [d, rates] : async_rate) {
    async_json += (async_json.empty() ? "\"" : ",\"") + d + "\":" + spread_json(rates, 0);
    async_ratio_json += (async_ratio_json.empty() ? "\"" : ",\"") + d
                        + "\":" + spread_json(async_ratio[d]);
  }
  std::printf(
    "{\"suite\":\"interleaved\",\"name\":\"summary\",\"rounds\":%d,\"calls_per_round\":%d,"
    "\"async_calls_per_round\":%d,\"window\":256,\"map_items\":%d,\"workers\":2,"
    "\"default_depth\":%u,\"pipe_us\":%s,\"call_us\":%s,\"call_per_pipe\":%s,"
    "\"call_client_sleeps_per_call\":%s,\"call_worker_sleeps_per_call\":%s,"
    "\"async_calls_per_s\":{%s},\"pool_async_calls_per_s\":%s,\"async_per_pool\":{%s},"
    "\"map_items_per_s\":%s,\"pool_map_items_per_s\":%s,\"map_per_pool\":%s,"
    "\"async_per_default_depth\":{%s},\"async_this_per_compared_worker\":{%s},\"async_worker_syscalls_per_call\":{%s},"
    "\"cpus\":{\"pipe_parent\":%s,\"pipe_child\":%s,\"pipe_same_core_fraction\":%s,"
    "\"caller_thread\":%s,\"workers_last\":%s,\"pool_last\":%s}}\n",
    s.rounds, s.calls, s.async_calls, s.map_items, default_depth, spread_json(pipe_us).c_str(),
    spread_json(call_us).c_str(), spread_json(latency_ratio).c_str(),
    num(static_cast<double>(call_client_sleeps) / (static_cast<double>(s.calls) * s.rounds), 2).c_str(),
    num(static_cast<double>(call_worker_sleeps) / (static_cast<double>(s.calls) * s.rounds), 2).c_str(),
    async_json.c_str(),
    spread_json(pool_async, 0).c_str(), async_ratio_json.c_str(), spread_json(pyactor_map, 0).c_str(),
    spread_json(pool_map, 0).c_str(), spread_json(map_ratio).c_str(), per_default_json.c_str(), compare_json.c_str(), per_call_json.c_str(),
    cpu_json(pipe_parent).c_str(),
    cpu_json(pipe_child).c_str(),
    num(pipe_trips > 0 ? static_cast<double>(same_core) / static_cast<double>(pipe_trips) : 0).c_str(),
    cpu_json(caller).c_str(), cpu_json(worker_cpus).c_str(), cpu_json(pool_cpus).c_str());
  std::fflush(stdout);
  return 0;
}
