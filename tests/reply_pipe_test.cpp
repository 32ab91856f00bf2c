// A worker's replies come back on a pipe of their own (fd 4), its requests
// on the socket (fd 3), and it waits for requests in a plain blocking read.
// What must stay true: a worker that closes either end is replaced and every
// call gets one reply; a signal that reaches an idle worker (blocked in that
// read) does not stop it serving; neither descriptor leaks to children.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdio>
#include <set>
#include <thread>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

using test::ok;
using test::start_pool;

/// Kills a process the worker forked, by pid, when the test ends.
struct kill_on_exit {
  pid_t pid = 0;
  ~kill_on_exit() {
    if (pid > 0)
      ::kill(pid, SIGKILL);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(reply_pipe)

BOOST_AUTO_TEST_CASE(a_worker_that_closes_its_reply_pipe_fails_its_call_and_is_replaced) {
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.max_restarts = 10;
  auto rt = start_pool(o);
  auto pid = rt->status().at(0).pid;
  auto r = rt->exec("import os, time; os.close(4); time.sleep(30)");
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed);
  BOOST_CHECK_MESSAGE(r.error().message.find("closed its channel") != std::string::npos,
                      r.error().message);
  BOOST_CHECK(ok(rt->call("operator", "add", {2, 3})) == value{5});
  BOOST_CHECK_NE(rt->status().at(0).pid, pid);
}

BOOST_AUTO_TEST_CASE(a_worker_that_closes_its_request_socket_is_replaced_and_no_call_hangs) {
  // The reply of the call that closes fd 3 still goes out on the pipe; the
  // node notices the hang-up of the socket (its I/O thread always polls
  // it), kills the process and fails or hands back what was written to it.
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.max_restarts = 10;
  auto rt = start_pool(o);
  auto pid = rt->status().at(0).pid;
  auto first = rt->exec("import os; os.close(3)");
  if (!first)
    BOOST_CHECK_EQUAL(first.error().code, errc::worker_crashed);
  call_options opts;
  opts.timeout = std::chrono::seconds(60); // a hang shows up as a timeout
  std::set<int64_t> pids;
  BOOST_CHECK(test::eventually([&] {
    auto r = rt->call("os", "getpid", {}, {}, opts);
    if (!r) {
      BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed);
      return false;
    }
    pids.insert(r->as<int64_t>());
    return r->as<int64_t>() != pid;
  }));
  BOOST_CHECK_EQUAL(pids.count(pid), 0u); // the old process never answered after the close
}

BOOST_AUTO_TEST_CASE(an_idle_worker_blocked_in_read_survives_sigint_and_serves_on) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(1, &log));
  auto pid = static_cast<pid_t>(rt->status().at(0).pid);
  for (int i = 0; i < 20; ++i) {
    BOOST_REQUIRE(ok(rt->call("operator", "add", {i, 1})) == value{i + 1});
    // The worker is between calls, waiting in read(): a plain SIGINT ends
    // that read with EINTR and, at most, interrupts nothing.
    BOOST_REQUIRE_EQUAL(::kill(pid, SIGINT), 0);
  }
  for (int i = 0; i < 20; ++i)
    BOOST_CHECK(ok(rt->call("operator", "add", {i, 2})) == value{i + 2});
  BOOST_CHECK_EQUAL(rt->status().at(0).pid, pid);
  // A deadline still interrupts a running call (the interrupt comes while
  // the worker runs Python, not while it reads).
  call_options opts;
  opts.timeout = std::chrono::milliseconds(200);
  auto r = rt->eval("__import__('time').sleep(30)", {}, opts);
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::timeout);
  BOOST_CHECK(ok(rt->eval("6 * 7")) == value{42});
  BOOST_CHECK_EQUAL(rt->status().at(0).pid, pid);
}

BOOST_AUTO_TEST_CASE(neither_channel_descriptor_reaches_a_child_of_the_worker) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(1, &log));
  // A forked child (no exec) loses both at once; it reports what fds 3 and 4 are.
  auto forked = rt->exec("import os, time\n"
                         "r, wfd = os.pipe()\n"
                         "child = os.fork()\n"
                         "if child == 0:\n"
                         "    seen = b''\n"
                         "    for fd in (3, 4):\n"
                         "        try:\n"
                         "            os.fstat(fd)\n"
                         "            seen += b'open '\n"
                         "        except OSError:\n"
                         "            seen += b'closed '\n"
                         "    os.write(wfd, seen)\n"
                         "    while True: time.sleep(1)\n"
                         "os.close(wfd)\n"
                         "seen = os.read(r, 100)\n");
  BOOST_REQUIRE_MESSAGE(forked, (forked ? "" : forked.error().message));
  kill_on_exit child{static_cast<pid_t>(ok(rt->eval("child")).as<int64_t>())};
  BOOST_CHECK((ok(rt->eval("seen")) == value{make_bytes("closed closed ")}));
  // A child started with exec (os.system) inherits neither.
  BOOST_CHECK((ok(rt->call("os", "system", {"[ -e /proc/self/fd/3 ] || [ -e /proc/self/fd/4 ]"}))
               != value{0}));
  // The worker still serves, alone.
  for (int i = 0; i < 50; ++i)
    BOOST_CHECK_EQUAL(ok(rt->call("os", "getpid")).as<int64_t>(), rt->status().at(0).pid);
}

BOOST_AUTO_TEST_CASE(a_long_blocking_call_that_reads_its_own_reply_still_counts_as_load) {
  // A blocking caller that reads its own reply reports its call to the
  // scheduler itself, once it has run for the report delay (2 ms); a quick
  // one is never reported. The report is what routes other calls around a
  // busy worker: without it, least-loaded would send every other call to it.
  test::log_capture log;
  test::temp_dir dir{"pyactor-lead-report"};
  auto gate = (dir.path / "open").string();
  auto rt = start_pool(test::test_options(2, &log));
  struct open_gate { // the long call ends whatever happens below
    std::string path;
    ~open_gate() { std::fclose(std::fopen(path.c_str(), "w")); }
  };
  call_options on1;
  on1.worker = 1;
  // Worker 1 has answered a call: the reader token is free, so the next
  // blocking call on it reads its own reply.
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(rt->call("os", "getpid", {}, {}, on1));
  std::thread busy;
  {
    open_gate opener{gate};
    busy = std::thread([&] {
      auto r = rt->exec("import os, time\n"
                        "while not os.path.exists(" + std::string{"'"} + gate + "'):\n"
                        "    time.sleep(0.005)\n", on1);
      BOOST_CHECK_MESSAGE(r, (r ? "" : r.error().message));
    });
    int64_t busy_pid = 0;
    BOOST_REQUIRE(test::eventually([&] {
      for (auto& w : rt->status())
        if (w.in_flight == 1)
          busy_pid = w.pid;
      return busy_pid != 0;
    }));
    call_options quick;
    quick.timeout = std::chrono::seconds(5); // routed to the busy worker: a timeout
    BOOST_CHECK(test::eventually([&] {
      for (int i = 0; i < 20; ++i) {
        auto r = rt->call("os", "getpid", {}, {}, quick);
        if (!r || r->as<int64_t>() == busy_pid)
          return false;
      }
      return true;
    }));
  }
  busy.join();
}

BOOST_AUTO_TEST_SUITE_END()
