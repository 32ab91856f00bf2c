// pyactor-bench-big: 1 MiB payloads one way, against a socketpair floor
// measured in the SAME rounds.
//
// Every round runs, in an order that rotates from round to round:
//   floor      1 MiB one way and 16 B back over a Unix socketpair (2 MiB
//              buffers, like the worker channel) with a forked child
//   req W      blocking `call("builtins", "len", {1 MiB bytes})` (1 MiB
//              request, small reply) on a W-worker pool, W = 1 and 2
//   rep W      blocking `call("builtins", "bytes", {1 << 20})` (small
//              request, 1 MiB reply) on the same pools
// and yields each case's median per call and its ratio to the floor's median.
// The summary gives the median of the per-round values and their spread
// (min, max); a round far above the median shows the stalls of issue 11.
// Also per call, summed over all rounds: the node's minor page faults and
// the node's and the workers' sleeps (voluntary context switches).
//
// Prints JSON lines (suite "big") for bench/report.py. Every result is
// checked; a wrong one exits with code 1.
//
// Usage: pyactor-bench-big [--rounds N] [--calls N] [--quick | --check]
#include <pyactor/pyactor.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cpu_sample.hpp"
#include "fd_io.hpp"
#include "stats.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using pyactor::bench::percentile;
using pyactor::bench::spread_json;

constexpr size_t mib = size_t{1} << 20;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pyactor-bench-big: %s\n", what.c_str());
  std::exit(2);
}

[[noreturn]] void wrong(const std::string& what) {
  std::fprintf(stderr, "pyactor-bench-big: wrong result: %s\n", what.c_str());
  std::exit(1);
}

double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
}

/// A forked child that reads 1 MiB and answers 16 bytes, over a socketpair
/// with the worker channel's buffer sizes.
class floor_peer {
public:
  floor_peer() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      die("socketpair failed");
    for (int fd : sv) {
      int bytes = 2 * 1024 * 1024;
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    }
    pid_ = ::fork();
    if (pid_ < 0)
      die("fork failed");
    if (pid_ == 0) {
      ::close(sv[0]);
      std::vector<char> buf(mib);
      char answer[16] = {};
      while (pyactor::bench::read_all(sv[1], buf.data(), buf.size())) {
        answer[0] = buf[0];
        pyactor::bench::write_all(sv[1], answer, sizeof(answer));
      }
      ::_exit(0);
    }
    ::close(sv[1]);
    fd_ = sv[0];
    out_.assign(mib, 'x');
  }
  floor_peer(const floor_peer&) = delete;
  floor_peer& operator=(const floor_peer&) = delete;
  ~floor_peer() {
    ::close(fd_); // the child reads the end and exits
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  /// Median µs of `n` trips.
  double round(int n) {
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
      out_[0] = static_cast<char>(i);
      char in[16];
      auto t0 = clock_type::now();
      if (!pyactor::bench::write_all(fd_, out_.data(), out_.size())
          || !pyactor::bench::read_all(fd_, in, sizeof(in)))
        die("the floor's echo child went away");
      us.push_back(us_since(t0));
      if (in[0] != out_[0])
        wrong("the floor's echo child answered the wrong trip");
    }
    return percentile(us, 0.5);
  }

private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::vector<char> out_;
};

std::unique_ptr<pyactor::runtime> start_pool(uint32_t workers) {
  pyactor::runtime_options o;
  o.workers = workers;
  auto started = pyactor::runtime::start(o);
  if (!started)
    die("cannot start a " + std::to_string(workers)
        + "-worker pool: " + started.error().to_string());
  return std::move(started).value();
}

pyactor::value checked(pyactor::result<pyactor::value> r, const char* what) {
  if (!r)
    wrong(std::string{what} + " failed: " + r.error().to_string());
  return std::move(r).value();
}

/// Median µs of `n` calls of 1 MiB request, small reply.
double request_round(pyactor::runtime& rt, const pyactor::value& payload, int n) {
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    pyactor::list args{payload}; // copied before the clock starts
    auto t0 = clock_type::now();
    auto r = rt.call("builtins", "len", std::move(args));
    us.push_back(us_since(t0));
    auto got = checked(std::move(r), "len(1 MiB bytes)");
    if (!got.is<int64_t>() || got.as<int64_t>() != static_cast<int64_t>(mib))
      wrong("len(1 MiB bytes) gave " + got.to_string());
  }
  return percentile(us, 0.5);
}

/// Median µs of `n` calls of small request, 1 MiB reply.
double reply_round(pyactor::runtime& rt, int n) {
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    auto r = rt.call("builtins", "bytes", {static_cast<int64_t>(mib)});
    us.push_back(us_since(t0));
    auto got = checked(std::move(r), "bytes(1 << 20)");
    if (!got.is<pyactor::bytes>() || got.as<pyactor::bytes>().data.size() != mib)
      wrong("bytes(1 << 20) gave a " + got.type_name());
  }
  return percentile(us, 0.5);
}

std::vector<pid_t> worker_pids(pyactor::runtime& rt) {
  std::vector<pid_t> pids;
  for (auto& w : rt.status())
    pids.push_back(static_cast<pid_t>(w.pid));
  return pids;
}

uint64_t worker_sleeps(pyactor::runtime& rt) {
  uint64_t sum = 0;
  for (auto pid : worker_pids(rt))
    sum += pyactor::bench::read_counters(pid).sleeps;
  return sum;
}

struct totals {
  long calls = 0;
  long node_faults = 0;
  long node_sleeps = 0;
  uint64_t worker_sleeps = 0;
};

} // namespace

int main(int argc, char** argv) {
  int rounds = 7, calls = 40;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      rounds = 5, calls = 20;
    } else if (a == "--check") {
      rounds = 2, calls = 3;
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--calls" && i + 1 < argc) {
      calls = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: pyactor-bench-big [--rounds N] [--calls N] [--quick | --check]\n");
      return 2;
    }
  }
  floor_peer floor;
  std::map<uint32_t, std::unique_ptr<pyactor::runtime>> pools;
  for (uint32_t w : {1u, 2u})
    pools[w] = start_pool(w);
  pyactor::bytes raw;
  raw.data.resize(mib);
  for (size_t i = 0; i < raw.data.size(); ++i)
    raw.data[i] = static_cast<uint8_t>(i * 131 + 7);
  const pyactor::value payload{raw};
  for (auto& [w, rt] : pools) { // warm-up: every worker imports and sizes its buffers
    request_round(*rt, payload, 4 * static_cast<int>(w));
    reply_round(*rt, 4 * static_cast<int>(w));
  }
  floor.round(4);

  const std::vector<std::string> cases = {"floor", "req 1", "rep 1", "req 2", "rep 2"};
  std::map<std::string, std::vector<double>> per_round_us, per_round_ratio;
  std::map<std::string, totals> sums;
  for (int r = 0; r < rounds; ++r) {
    std::map<std::string, double> us;
    for (size_t k = 0; k < cases.size(); ++k) {
      const auto& c = cases[(k + static_cast<size_t>(r)) % cases.size()];
      if (c == "floor") {
        us[c] = floor.round(calls);
        continue;
      }
      auto& rt = *pools[c.back() == '1' ? 1u : 2u];
      rusage before{}, after{};
      ::getrusage(RUSAGE_SELF, &before);
      auto ws = worker_sleeps(rt);
      us[c] = c[1] == 'e' && c[2] == 'q' ? request_round(rt, payload, calls) : reply_round(rt, calls);
      ::getrusage(RUSAGE_SELF, &after);
      auto& t = sums[c];
      t.calls += calls;
      t.node_faults += after.ru_minflt - before.ru_minflt;
      t.node_sleeps += after.ru_nvcsw - before.ru_nvcsw;
      t.worker_sleeps += worker_sleeps(rt) - ws;
    }
    for (auto& [c, v] : us) {
      per_round_us[c].push_back(v);
      per_round_ratio[c].push_back(v / us["floor"]);
    }
  }
  double load[3] = {0, 0, 0};
  ::getloadavg(load, 3);
  for (const auto& c : cases) {
    std::string extra;
    if (c != "floor") {
      const auto& t = sums[c];
      char buf[160];
      std::snprintf(buf, sizeof(buf),
                    ",\"node_minor_faults_per_call\":%.1f,\"node_sleeps_per_call\":%.2f,"
                    "\"worker_sleeps_per_call\":%.2f",
                    static_cast<double>(t.node_faults) / t.calls,
                    static_cast<double>(t.node_sleeps) / t.calls,
                    static_cast<double>(t.worker_sleeps) / t.calls);
      extra = ",\"ratio_to_floor\":" + spread_json(per_round_ratio[c], 2) + buf;
    }
    std::printf("{\"suite\":\"big\",\"name\":\"%s\",\"rounds\":%d,\"calls_per_round\":%d,"
                "\"load\":%.2f,\"us\":%s%s}\n",
                c.c_str(), rounds, calls, load[0], spread_json(per_round_us[c], 1).c_str(),
                extra.c_str());
  }
  std::fflush(stdout);
  return 0;
}
