// pyactor-bench-floors: what the machine itself costs, measured in the same run
// as pyactor and its peers, so ratios compare like with like.
//
//   pipe ping-pong      64 B to a child process over one pipe pair and back
//   socketpair ping-pong 64 B over a Unix socketpair (pyactor's worker channel)
//   socketpair 1 MiB    1 MiB there and back over a Unix socketpair
//   C-API call          a cached Python callable (operator.add) called through
//                       the C API inside this process
//   C-API resolve+call  sys.modules lookup + getattr by name, then the call
//   cpu task            sum(range(10**5)) inside this process (the unit of the
//                       CPU scatter workload)
//
// Prints one JSON object per line. `--quick` runs fewer iterations.
#include <Python.h>

#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fd_io.hpp"
#include "stats.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double ns_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

using pyactor::bench::percentile;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "pyactor-bench-floors: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

void write_all(int fd, const char* data, size_t size) {
  if (!pyactor::bench::write_all(fd, data, size))
    die("write");
}

/// Returns false at end of stream.
bool read_all(int fd, char* data, size_t size) {
  if (pyactor::bench::read_all(fd, data, size))
    return true;
  if (errno != 0)
    die("read");
  return false;
}

/// Where the two processes of a ping-pong ran: sched_getcpu in each, at
/// every round trip (the child writes its core into bytes 4..7 of the echo).
struct cores_seen {
  pyactor::bench::cpu_counts parent, child;
  long same = 0;
  long trips = 0;

  std::string json() const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.3f", trips > 0 ? static_cast<double>(same) / trips : 0.0);
    return ",\"cpus_parent\":" + pyactor::bench::cpu_json(parent) + ",\"cpus_child\":"
           + pyactor::bench::cpu_json(child) + ",\"same_core_fraction\":" + buf;
  }
};

/// Round trips of `size` bytes to a forked echo child; returns one duration
/// (ns) per round trip. `to_child` / `from_child` are {parent end, child end}.
std::vector<double> ping_pong(int parent_write, int parent_read, int child_read, int child_write,
                              size_t size, int warmup, int rounds, cores_seen* cores = nullptr) {
  pid_t pid = ::fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    ::close(parent_write);
    if (parent_read != parent_write)
      ::close(parent_read);
    std::vector<char> buf(size);
    while (read_all(child_read, buf.data(), size)) {
      if (size >= 8) {
        int cpu = ::sched_getcpu();
        std::memcpy(buf.data() + 4, &cpu, sizeof(cpu));
      }
      write_all(child_write, buf.data(), size);
    }
    ::_exit(0);
  }
  ::close(child_read);
  if (child_write != child_read)
    ::close(child_write);
  std::vector<char> out(size, 'x'), in(size);
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(rounds));
  for (int i = 0; i < warmup + rounds; ++i) {
    out[0] = static_cast<char>(i);
    auto t0 = clock_type::now();
    write_all(parent_write, out.data(), size);
    if (!read_all(parent_read, in.data(), size))
      die("echo child went away");
    auto t1 = clock_type::now();
    if (in[0] != out[0]) {
      std::fprintf(stderr, "pyactor-bench-floors: echo mismatch\n");
      std::exit(1);
    }
    if (i >= warmup) {
      samples.push_back(ns_between(t0, t1));
      if (cores != nullptr && size >= 8) {
        int mine = ::sched_getcpu(), theirs = -1;
        std::memcpy(&theirs, in.data() + 4, sizeof(theirs));
        ++cores->parent[mine];
        ++cores->child[theirs];
        cores->same += mine == theirs ? 1 : 0;
        ++cores->trips;
      }
    }
  }
  ::close(parent_write);
  if (parent_read != parent_write)
    ::close(parent_read);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return samples;
}

std::vector<double> pipe_ping_pong(size_t size, int warmup, int rounds,
                                   cores_seen* cores = nullptr) {
  int down[2], up[2];
  if (::pipe(down) != 0 || ::pipe(up) != 0)
    die("pipe");
  return ping_pong(down[1], up[0], down[0], up[1], size, warmup, rounds, cores);
}

std::vector<double> socketpair_ping_pong(size_t size, int warmup, int rounds,
                                         cores_seen* cores = nullptr) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    die("socketpair");
  return ping_pong(sv[0], sv[0], sv[1], sv[1], size, warmup, rounds, cores);
}

void print_latency(const char* name, const std::vector<double>& ns, const std::string& extra = "") {
  std::printf("{\"suite\":\"floor\",\"name\":\"%s\",\"n\":%zu,\"median_us\":%.3f,"
              "\"p99_us\":%.3f,\"min_us\":%.3f%s}\n",
              name, ns.size(), percentile(ns, 0.5) / 1000, percentile(ns, 0.99) / 1000,
              percentile(ns, 0.0) / 1000, extra.c_str());
  std::fflush(stdout);
}

PyObject* checked(PyObject* x, const char* what) {
  if (x == nullptr) {
    PyErr_Print();
    std::fprintf(stderr, "pyactor-bench-floors: %s failed\n", what);
    std::exit(2);
  }
  return x;
}

/// Best of `repeats` batches of `n` calls, in ns per call.
template <class F>
double ns_per_call(F&& one, long n, int repeats) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = clock_type::now();
    for (long i = 0; i < n; ++i)
      one();
    auto t1 = clock_type::now();
    best = std::min(best, ns_between(t0, t1) / static_cast<double>(n));
  }
  return best;
}

void python_floors(bool quick) {
  Py_InitializeEx(0);
  PyObject* operator_mod = checked(PyImport_ImportModule("operator"), "import operator");
  PyObject* add = checked(PyObject_GetAttrString(operator_mod, "add"), "operator.add");
  PyObject* one = PyLong_FromLong(1);
  PyObject* two = PyLong_FromLong(2);
  long n = quick ? 200000 : 2000000;
  long sum_check = 0;
  double cached = ns_per_call(
    [&] {
      PyObject* args[] = {one, two};
      PyObject* r = PyObject_Vectorcall(add, args, 2, nullptr);
      sum_check += PyLong_AsLong(r);
      Py_DECREF(r);
    },
    n, 5);
  if (sum_check != 3 * n * 5) {
    std::fprintf(stderr, "pyactor-bench-floors: operator.add gave wrong results\n");
    std::exit(1);
  }
  std::printf("{\"suite\":\"floor\",\"name\":\"capi_cached_call\",\"n\":%ld,\"ns_per_call\":%.1f}\n",
              n, cached);
  long n_resolve = n / 10;
  double resolved = ns_per_call(
    [&] {
      PyObject* name = PyUnicode_FromString("operator");
      PyObject* mod = checked(PyImport_GetModule(name), "sys.modules['operator']");
      PyObject* fn = checked(PyObject_GetAttrString(mod, "add"), "operator.add");
      Py_DECREF(name);
      PyObject* args[] = {one, two};
      PyObject* r = PyObject_Vectorcall(fn, args, 2, nullptr);
      Py_DECREF(r);
      Py_DECREF(fn);
      Py_DECREF(mod);
    },
    n_resolve, 5);
  std::printf("{\"suite\":\"floor\",\"name\":\"capi_resolve_and_call\",\"n\":%ld,"
              "\"ns_per_call\":%.1f}\n",
              n_resolve, resolved);

  // One unit of the CPU scatter workload, in this process.
  PyObject* globals = PyDict_New();
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  PyObject* code = checked(Py_CompileString("sum(range(10**5))", "<cpu>", Py_eval_input), "compile");
  std::vector<double> cpu;
  for (int i = 0; i < 10; ++i) // warm-up: the first runs also grow the heap
    Py_XDECREF(PyEval_EvalCode(code, globals, globals));
  for (int i = 0; i < (quick ? 50 : 200); ++i) {
    auto t0 = clock_type::now();
    PyObject* r = checked(PyEval_EvalCode(code, globals, globals), "sum(range(10**5))");
    auto t1 = clock_type::now();
    if (PyLong_AsLongLong(r) != 4999950000LL) {
      std::fprintf(stderr, "pyactor-bench-floors: sum(range(10**5)) is wrong\n");
      std::exit(1);
    }
    Py_DECREF(r);
    cpu.push_back(ns_between(t0, t1));
  }
  std::printf("{\"suite\":\"floor\",\"name\":\"cpu_task_in_process\",\"n\":%zu,"
              "\"median_ms\":%.4f,\"min_ms\":%.4f}\n",
              cpu.size(), percentile(cpu, 0.5) / 1e6, percentile(cpu, 0.0) / 1e6);
  std::fflush(stdout);
  Py_DECREF(code);
  Py_DECREF(globals);
  Py_DECREF(one);
  Py_DECREF(two);
  Py_DECREF(add);
  Py_DECREF(operator_mod);
  Py_FinalizeEx();
}

} // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
      return 2;
    }
  }
  int rounds = quick ? 5000 : 20000;
  // Processes first: fork before the interpreter exists.
  cores_seen pipe_cores, socket_cores;
  auto pipe = pipe_ping_pong(64, 500, rounds, &pipe_cores);
  print_latency("pipe_pingpong_64B", pipe, pipe_cores.json());
  auto socket = socketpair_ping_pong(64, 500, rounds, &socket_cores);
  print_latency("socketpair_pingpong_64B", socket, socket_cores.json());
  print_latency("socketpair_roundtrip_1MiB", socketpair_ping_pong(1 << 20, 5, quick ? 50 : 200));
  python_floors(quick);
  return 0;
}
