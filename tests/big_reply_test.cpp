// Replies larger than the reply pipe holds travel aside, on the request
// socket, announced by markers on the pipe (worker/protocol.hpp aside_flag).
// What must stay true: they arrive intact and in order with the small
// replies around them, and a worker that dies in the middle of one (killed,
// or exiting after half of it, or lying about it) fails exactly one call and
// is replaced.
#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

using test::ok;
using test::start_pool;

constexpr int64_t mib = int64_t{1} << 20;

/// The bytes `pattern(n, seed)` in the worker makes: byte i is (i * 7 + seed) % 251.
std::vector<uint8_t> pattern(int64_t n, int64_t seed) {
  std::vector<uint8_t> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>((i * 7 + static_cast<size_t>(seed)) % 251);
  return out;
}

/// Defines `pattern` in the worker's namespace (the one eval and exec share).
const char* define_pattern = "def pattern(n, seed):\n"
                             "    block = bytes((i * 7 + seed) % 251 for i in range(251))\n"
                             "    return (block * (n // 251 + 1))[:n]\n";

/// True when `v` holds exactly `want`; says what differs otherwise.
bool same_bytes(const value& v, const std::vector<uint8_t>& want) {
  if (!v.is<bytes>()) {
    BOOST_TEST_MESSAGE("expected bytes, got " << v.type_name());
    return false;
  }
  const auto& got = v.as<bytes>().data;
  if (got.size() != want.size()) {
    BOOST_TEST_MESSAGE("expected " << want.size() << " bytes, got " << got.size());
    return false;
  }
  return got == want;
}

runtime_options one_worker(test::log_capture& log) {
  auto o = test::test_options(1, &log);
  o.max_restarts = 20;
  o.pipeline_depth = 64;
  return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(big_reply)

BOOST_AUTO_TEST_CASE(large_replies_round_trip_intact) {
  test::log_capture log;
  auto rt = start_pool(one_worker(log));
  BOOST_REQUIRE(rt->exec(define_pattern));
  // Around the sizes where a reply leaves the pipe (half of it, 512 KiB
  // unprivileged) and well beyond the socket's buffer.
  std::vector<int64_t> sizes = {0,           1,           mib / 2 - 64, mib / 2,
                                mib / 2 + 1, mib,         mib + 1,      4 * mib,
                                16 * mib,    16 * mib + 3};
  int64_t seed = 1;
  for (auto n : sizes) {
    BOOST_TEST_CONTEXT("a reply of " << n << " bytes") {
      auto got = ok(rt->eval("pattern(n, seed)", dict{{{"n", n}, {"seed", seed}}}));
      BOOST_CHECK(same_bytes(got, pattern(n, seed)));
      // A 1 MiB request with its reply through the same worker after it.
      BOOST_CHECK(ok(rt->call("builtins", "len", {value{bytes{pattern(mib, seed)}}})) == value{mib});
    }
    ++seed;
  }
  auto pid = rt->status().at(0).pid;
  BOOST_CHECK(ok(rt->call("os", "getpid")) == value{pid}); // never replaced
}

BOOST_AUTO_TEST_CASE(large_and_small_replies_pipelined_at_depth_64_each_get_their_answer) {
  test::log_capture log;
  auto rt = start_pool(one_worker(log));
  BOOST_REQUIRE(rt->exec(define_pattern));
  auto pid = rt->status().at(0).pid;
  struct pending {
    int i;
    int64_t size; // 0: a small call
    runtime::future f;
  };
  std::vector<pending> calls;
  for (int i = 0; i < 192; ++i) {
    int64_t size = 0;
    if (i % 3 == 1)
      size = (i % 2 == 0 ? mib : mib / 2 + 7) + i;
    else if (i % 17 == 0)
      size = 3 * mib + i;
    if (size > 0)
      calls.push_back(
        {i, size, rt->eval_async("pattern(n, seed)", dict{{{"n", size}, {"seed", i}}})});
    else
      calls.push_back({i, 0, rt->call_async("operator", "add", {i, 1000})});
  }
  for (auto& c : calls) {
    BOOST_TEST_CONTEXT("call " << c.i << " of size " << c.size) {
      auto got = ok(c.f.get());
      if (c.size > 0)
        BOOST_CHECK(same_bytes(got, pattern(c.size, c.i)));
      else
        BOOST_CHECK(got == value{c.i + 1000});
    }
  }
  BOOST_CHECK_EQUAL(rt->status().at(0).pid, pid);
}

BOOST_AUTO_TEST_CASE(a_worker_killed_while_writing_a_large_reply_fails_one_call_and_is_replaced) {
  test::log_capture log;
  auto rt = start_pool(one_worker(log));
  auto pid = rt->status().at(0).pid;
  // A thread in the worker kills it once over 64 KiB of reply bytes sit
  // unread in its socket (SIOCOUTQ) or its reply pipe (FIONREAD), which
  // only the 32 MiB reply makes: while it goes out piece by piece (aside, or
  // on the pipe where the socket holds less); if it got out whole, the
  // call after it kills the process itself.
  BOOST_REQUIRE(rt->exec("import fcntl, os, struct, termios, threading, time\n"
                         "def _kill_when_sending():\n"
                         "    queued = bytearray(4)\n"
                         "    while True:\n"
                         "        total = 0\n"
                         "        for fd, request in ((3, termios.TIOCOUTQ), (4, termios.FIONREAD)):\n"
                         "            fcntl.ioctl(fd, request, queued)\n"
                         "            total += struct.unpack('i', queued)[0]\n"
                         "        if total > 65536:\n"
                         "            os.kill(os.getpid(), 9)\n"
                         "        time.sleep(0.0002)\n"
                         "armed = True\n"
                         "threading.Thread(target=_kill_when_sending, daemon=True).start()\n"));
  auto big = rt->call_async("builtins", "bytes", {32 * mib});
  // In the armed process (if the reply got out whole) this call kills it
  // itself: the kill lands on `big` or on this one.
  auto gate = rt->eval_async(
    "globals().get('armed') and __import__('os').kill(__import__('os').getpid(), 9)");
  std::vector<runtime::future> small;
  for (int i = 0; i < 20; ++i)
    small.push_back(rt->call_async("operator", "add", {i, 1}));
  auto big_r = big.get();
  auto gate_r = gate.get();
  int errors = 0;
  for (auto* r : {&big_r, &gate_r}) {
    if (!*r) {
      ++errors;
      BOOST_CHECK_EQUAL(r->error().code, errc::worker_crashed);
    }
  }
  BOOST_CHECK_EQUAL(errors, 1);
  BOOST_TEST_MESSAGE("the kill failed " << (big_r ? "the call after the 32 MiB reply"
                                                  : "the 32 MiB reply in the middle"));
  if (big_r)
    BOOST_CHECK(same_bytes(*big_r, std::vector<uint8_t>(static_cast<size_t>(32 * mib), 0)));
  // The calls behind them never started in the killed process: they ran on its successor.
  for (int i = 0; i < 20; ++i)
    BOOST_CHECK(ok(small[static_cast<size_t>(i)].get()) == value{i + 1});
  BOOST_CHECK_NE(rt->status().at(0).pid, pid);
  auto after = ok(rt->call("builtins", "bytes", {4 * mib}));
  BOOST_CHECK(same_bytes(after, std::vector<uint8_t>(static_cast<size_t>(4 * mib), 0)));
}

BOOST_AUTO_TEST_CASE(a_worker_that_exits_after_half_a_large_reply_fails_its_call_only) {
  // Half a frame aside (its marker on the pipe, the rest never sent), half a
  // frame on the pipe itself, and a marker for bytes never sent: each fails
  // the call that was running, the calls queued behind it run on the next
  // process, and the pool serves on.
  const std::vector<std::pair<std::string, std::string>> halves = {
    {"aside",
     "import os, struct\n"
     "piece = struct.pack('<IQB', 9 + (4 << 20), 1, 0) + bytes(200000)\n"
     "os.write(3, piece)\n"
     "os.write(4, struct.pack('<I', 0x80000000 | len(piece)))\n"
     "os._exit(0)\n"},
    {"on the pipe",
     "import os, struct\n"
     "os.write(4, struct.pack('<IQB', 9 + (4 << 20), 1, 0) + bytes(60000))\n"
     "os._exit(0)\n"},
    {"announced but never sent",
     "import os, struct\n"
     "os.write(4, struct.pack('<I', 0x80000000 | 100000))\n"
     "import time; time.sleep(60)\n"},
  };
  test::log_capture log;
  auto rt = start_pool(one_worker(log));
  for (auto& [what, code] : halves) {
    BOOST_TEST_CONTEXT("half a reply " << what) {
      auto pid = rt->status().at(0).pid;
      auto broken = rt->eval_async("exec(code)", dict{{{"code", code}}});
      std::vector<runtime::future> behind;
      for (int i = 0; i < 10; ++i)
        behind.push_back(rt->call_async("operator", "add", {i, 2}));
      auto r = broken.get();
      BOOST_REQUIRE(!r);
      BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed);
      if (what == "announced but never sent")
        BOOST_CHECK_MESSAGE(r.error().message.find("announced") != std::string::npos,
                            r.error().message);
      for (int i = 0; i < 10; ++i)
        BOOST_CHECK(ok(behind[static_cast<size_t>(i)].get()) == value{i + 2});
      BOOST_CHECK_NE(rt->status().at(0).pid, pid);
    }
  }
  BOOST_CHECK(ok(rt->call("builtins", "len", {value{bytes{pattern(mib, 3)}}})) == value{mib});
}

BOOST_AUTO_TEST_SUITE_END()
