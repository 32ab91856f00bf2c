// A worker's life as its process lives it: death noticed from the process
// (not from pipes a grandchild holds), membership by readiness, the start
// timeout, setup errors, exit statuses under SIGCHLD ignored, and the memory
// of dead workers. Real worker processes throughout.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <set>

#include <unistd.h>

#include <caf/all.hpp>

#include "actors/worker_actor.hpp"
#include "pyactor/codec/msgpack.hpp"
#include "worker/protocol.hpp"
#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

using test::start_pool;
using test::ok;

/// Kills, by pid, the processes a test started behind the pool's back (also
/// when the test fails).
struct grandchildren {
  std::vector<pid_t> pids;
  ~grandchildren() {
    for (auto pid : pids)
      if (pid > 0)
        ::kill(pid, SIGKILL);
  }
};

/// A fresh directory for Python modules a test writes; removed at the end.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/pyactor-lifecycle-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::string cmd = "rm -rf '" + path + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream{path + "/" + name} << text;
  }
};

/// A Python call that starts `sleep 600` holding the worker's stdout,
/// stderr and channel (fd 3), and returns its pid.
int64_t start_grandchild(runtime& rt, const call_options& on = {}) {
  auto pid = ok(rt.eval("__import__('subprocess').Popen(['sleep', '600'], pass_fds=(3,)).pid",
                        {}, on))
               .as<int64_t>();
  BOOST_REQUIRE_GT(pid, 0);
  return pid;
}

/// True once slot `slot` runs a process other than `old_pid` and is ready.
bool replaced(runtime& rt, uint64_t slot, int64_t old_pid) {
  for (auto& w : rt.status())
    if (w.id == slot)
      return w.pid != old_pid && w.pid > 0 && w.state == "ready";
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(worker_lifecycle)

BOOST_AUTO_TEST_CASE(a_killed_worker_with_a_grandchild_fails_its_call_at_once) {
  grandchildren kids;
  temp_dir dir;
  auto rt = start_pool(test::test_options(1));
  auto pid = rt->status().at(0).pid;
  kids.pids.push_back(static_cast<pid_t>(start_grandchild(*rt)));
  call_options slow;
  slow.timeout = std::chrono::seconds(30); // the grandchild outlives it
  auto marker = dir.path + "/running";
  auto running = rt->eval_async("open(m, 'w').close() or __import__('time').sleep(60)",
                                dict{{{value{"m"}, value{marker}}}}, slow);
  BOOST_REQUIRE(test::eventually([&] { return ::access(marker.c_str(), F_OK) == 0; }));
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  auto r = running.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed); // not timeout
  BOOST_CHECK(r.error().message.find("signal 9") != std::string::npos);
  // The dead process is reaped (no zombie reported as ready), a new one serves.
  BOOST_CHECK(test::eventually([&] { return replaced(*rt, 1, pid); }));
  BOOST_CHECK(!test::process_alive(pid));
  call_options quick;
  quick.timeout = std::chrono::seconds(30);
  BOOST_CHECK(ok(rt->op("add", {1, 2}, quick)) == value{3});
  // Stopping the runtime waits for its own processes only.
  rt.reset();
  BOOST_CHECK(test::process_alive(kids.pids.front()));
}

BOOST_AUTO_TEST_CASE(recycling_with_a_grandchild_alive_does_not_delay_calls) {
  grandchildren kids;
  auto o = test::test_options(1);
  o.max_calls_per_worker = 2;
  auto rt = start_pool(o);
  auto first_pid = rt->status().at(0).pid;
  kids.pids.push_back(static_cast<pid_t>(start_grandchild(*rt)));
  BOOST_CHECK(ok(rt->op("add", {1, 1})) == value{2}); // the second call: recycle
  call_options short_timeout;
  short_timeout.timeout = std::chrono::seconds(1); // runs on the next process
  auto pid = ok(rt->call("os", "getpid", {}, {}, short_timeout)).as<int64_t>();
  BOOST_CHECK_NE(pid, first_pid);
  BOOST_CHECK(test::process_alive(kids.pids.front()));
}

BOOST_AUTO_TEST_CASE(stopping_the_runtime_does_not_wait_for_a_grandchild_on_the_channel) {
  grandchildren kids;
  auto rt = start_pool(test::test_options(2));
  call_options on;
  for (uint64_t w : {1, 2}) {
    on.worker = w;
    kids.pids.push_back(static_cast<pid_t>(start_grandchild(*rt, on)));
  }
  auto pids = std::vector<int64_t>{rt->status().at(0).pid, rt->status().at(1).pid};
  rt.reset();
  for (auto pid : pids)
    BOOST_CHECK(!test::process_alive(pid));
  for (auto pid : kids.pids)
    BOOST_CHECK(test::process_alive(pid)); // not waited for, not killed
}

BOOST_AUTO_TEST_CASE(kills_are_reported_as_signals_when_the_host_ignores_sigchld) {
  auto old = std::signal(SIGCHLD, SIG_IGN);
  struct restore {
    void (*handler)(int);
    ~restore() { std::signal(SIGCHLD, handler); }
  } restore_sigchld{old};
  auto rt = start_pool(test::test_options(1));
  auto pid = rt->status().at(0).pid;
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  BOOST_REQUIRE(test::eventually([&] { return replaced(*rt, 1, pid); }));
  // The kernel discards the status of a child when SIGCHLD is ignored: it is
  // read back from the pidfd (Linux 6.13+) or said to be unknown, and why.
  auto signal_or_unknown = [](const std::string& text, const std::string& signal) {
    return text.find(signal) != std::string::npos
           || text.find("unknown: this program ignores SIGCHLD") != std::string::npos;
  };
  auto last = rt->status().at(0).last_exit;
  BOOST_CHECK_MESSAGE(signal_or_unknown(last, "signal 9"), last);
  BOOST_CHECK(last.find("code 0") == std::string::npos);
  pid = rt->status().at(0).pid;
  auto r = rt->call("os", "abort");
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed);
  BOOST_CHECK_MESSAGE(signal_or_unknown(r.error().message, "signal 6"), r.error().message);
  BOOST_CHECK(r.error().message.find("code 0") == std::string::npos);
  BOOST_CHECK(test::eventually([&] { return replaced(*rt, 1, pid); }));
}

BOOST_AUTO_TEST_CASE(a_missing_working_directory_fails_at_once_naming_it) {
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.cwd = "/nonexistent/pyactor-cwd";
  auto started = runtime::start(o);
  BOOST_REQUIRE(!started);
  auto& message = started.error().message;
  BOOST_CHECK_MESSAGE(message.find("'/nonexistent/pyactor-cwd'") != std::string::npos, message);
  BOOST_CHECK_MESSAGE(message.find("cwd") != std::string::npos, message);
  size_t attempts = 0;
  for (auto& line : log.lines())
    if (line.find("cannot start worker") != std::string::npos
        && line.find("[supervisor]") == std::string::npos)
      ++attempts;
  BOOST_CHECK_EQUAL(attempts, 1u); // not retried: no restart can fix it
}

BOOST_AUTO_TEST_CASE(calls_go_to_a_ready_worker_while_another_runs_its_start_hook) {
  for (std::string policy : {"least-loaded", "round-robin"}) {
    BOOST_TEST_MESSAGE("policy " << policy);
    temp_dir dir;
    // The hook waits for the release file, but only after a restart.
    dir.write("slowhook.py", "import os, time\n"
                             "def hook():\n"
                             "    d = '" + dir.path + "'\n"
                             "    if not os.path.exists(d + '/crashed'):\n"
                             "        return\n"
                             "    for _ in range(1200):\n"
                             "        if os.path.exists(d + '/release'):\n"
                             "            return\n"
                             "        time.sleep(0.1)\n");
    auto o = test::test_options(2);
    o.policy = policy;
    o.python_path = {dir.path};
    o.start_hook = "slowhook.hook";
    auto rt = start_pool(o);
    auto pid1 = rt->status().at(0).pid;
    auto pid2 = rt->status().at(1).pid;
    dir.write("crashed", "");
    ::kill(static_cast<pid_t>(pid1), SIGKILL);
    // Worker 1 restarts and sits in its hook; worker 2 is idle.
    BOOST_REQUIRE(test::eventually([&] {
      auto st = rt->status();
      return st.at(0).pid != pid1 && st.at(0).pid > 0 && st.at(0).state == "starting";
    }));
    call_options short_timeout;
    short_timeout.timeout = std::chrono::seconds(1);
    for (int i = 0; i < 20; ++i)
      BOOST_CHECK_EQUAL(ok(rt->call("os", "getpid", {}, {}, short_timeout)).as<int64_t>(), pid2);
    dir.write("release", "");
    BOOST_CHECK(test::eventually([&] { return replaced(*rt, 1, pid1); }));
    // No call interrupted the hook: one restart, the slot lives.
    BOOST_CHECK_EQUAL(rt->status().at(0).restarts, 1u);
    BOOST_CHECK(rt->status().at(0).last_exit.find("signal 9") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(a_hanging_start_hook_is_killed_at_the_start_timeout) {
  temp_dir dir;
  dir.write("hanghook.py", "import time\n"
                           "def hook():\n"
                           "    time.sleep(3600)\n");
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.python_path = {dir.path};
  o.start_hook = "hanghook.hook";
  o.start_timeout = std::chrono::seconds(1);
  o.max_restarts = 0;
  auto started = runtime::start(o);
  BOOST_REQUIRE(!started);
  auto& message = started.error().message;
  BOOST_CHECK_MESSAGE(message.find("start-timeout") != std::string::npos, message);
  BOOST_CHECK_MESSAGE(message.find("hanghook.hook") != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(a_dead_worker_actor_is_freed_before_its_timers_would_fire) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::pyactor>();
  caf::actor_system sys{cfg};
  actors::worker_options opts;
  opts.spawn.executable = test::worker_executable();
  opts.spawn.python_path = {test::python_dir()};
  opts.default_timeout = std::chrono::minutes(5); // a timer far in the future
  auto stats = std::make_shared<actors::worker_stats>();
  caf::weak_actor_ptr weak;
  {
    auto worker = sys.spawn(actors::worker_behavior, std::move(opts), stats);
    weak = caf::actor_cast<caf::weak_actor_ptr>(worker);
    actors::call_request req;
    req.body = codec::encode_msgpack(list{value{static_cast<int>(worker::op::func)},
                                          value{"time"}, value{"sleep"}, value{list{60}},
                                          value{dict{}}});
    BOOST_REQUIRE(test::eventually([&] { return stats->state.load() == 1 && stats->pid > 0; }));
    caf::scoped_actor self{sys};
    auto pending = self->request(worker, std::chrono::seconds(60), actors::call_atom_v,
                                 std::move(req));
    ::kill(static_cast<pid_t>(stats->pid.load()), SIGKILL);
    actors::call_reply reply;
    pending.receive([&](actors::call_reply& r) { reply = std::move(r); },
                    [&](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
    BOOST_CHECK_EQUAL(reply.code, static_cast<uint8_t>(errc::worker_crashed));
  }
  // Nothing (no pending timer) keeps the actor once it has quit.
  BOOST_CHECK(test::eventually([&] { return weak.lock() == nullptr; }));
}

BOOST_AUTO_TEST_CASE(a_worker_killed_with_64_calls_written_fails_only_the_running_one) {
  temp_dir dir;
  auto o = test::test_options(1);
  o.pipeline_depth = 64;
  auto rt = start_pool(o);
  auto pid = rt->status().at(0).pid;
  auto marker = dir.path + "/running";
  std::vector<call_handle> handles;
  handles.push_back(rt->eval_async("open(m, 'w').close() or __import__('time').sleep(60)",
                                   dict{{{value{"m"}, value{marker}}}}));
  for (int i = 0; i < 63; ++i)
    handles.push_back(rt->call_async("os", "getpid"));
  BOOST_REQUIRE(test::eventually([&] { return ::access(marker.c_str(), F_OK) == 0; }));
  BOOST_REQUIRE(test::eventually([&] { return rt->status().at(0).in_flight == 64u; }));
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  auto first = handles.front().get();
  BOOST_REQUIRE(!first);
  BOOST_CHECK_EQUAL(first.error().code, errc::worker_crashed);
  size_t failed = 0;
  for (size_t i = 1; i < handles.size(); ++i) {
    auto r = handles[i].get();
    if (!r) {
      ++failed;
      BOOST_TEST_MESSAGE(r.error().to_string());
    } else {
      BOOST_CHECK_NE(r.value().as<int64_t>(), pid); // ran on the next process
    }
  }
  BOOST_CHECK_EQUAL(failed, 0u);
}

// With calls pipelined, a call cancelled while the one ahead of it ran may
// already have started when its skip frame arrives. It must not run on
// unwatched (the Erlang gateway saw a 60 s sleep hold the worker): each round
// cancels the sleeper about when the call ahead ends, then a call with a
// timeout must still get through the same single worker.
BOOST_AUTO_TEST_CASE(a_call_cancelled_as_the_one_ahead_ends_never_holds_the_worker) {
  auto o = test::test_options(1);
  o.pipeline_depth = 64;
  auto rt = start_pool(o);
  call_options bounded;
  bounded.timeout = std::chrono::seconds(20);
  for (int round = 0; round < 20; ++round) {
    auto ahead_ms = 2 + round;
    auto ahead = rt->eval_async("__import__('time').sleep(" + std::to_string(ahead_ms) + " / 1000)");
    auto sleeper = rt->eval_async("__import__('time').sleep(60)");
    std::this_thread::sleep_for(std::chrono::milliseconds(ahead_ms));
    sleeper.cancel();
    auto r = sleeper.get();
    BOOST_REQUIRE(!r);
    BOOST_CHECK_EQUAL(r.error().code, errc::cancelled);
    BOOST_CHECK(ahead.get());
    auto next = rt->call("os", "getpid", {}, {}, bounded);
    BOOST_REQUIRE_MESSAGE(next, "round " << round << ": " << (next ? "" : next.error().to_string()));
  }
  BOOST_CHECK(test::eventually([&] { return rt->status().at(0).in_flight == 0u; }));
}

BOOST_AUTO_TEST_SUITE_END()
