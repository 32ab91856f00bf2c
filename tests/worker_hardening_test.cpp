// The worker process against hostile user code and hostile requests: forks,
// children, background threads, SIGINT handlers, huge and deep values, bad
// operation codes (issue 8). Real worker processes, driven frame by frame.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <set>
#include <sstream>

#include <sys/stat.h>

#include "worker/protocol.hpp"
#include "test_fixtures.hpp"
#include "worker_client.hpp"

using namespace pyactor;
using pyactor::test::error_message;
using pyactor::test::error_type;
using pyactor::test::func;
using pyactor::test::exec_request;
using pyactor::test::worker_client;
using pyactor::worker::op;
using pyactor::worker::status;

namespace {

/// An eval request with empty locals.
value eval_in_empty(const std::string& code) {
  return pyactor::test::eval_request(code, dict{});
}

/// The direct children of `pid` (from /proc).
std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"};
  std::vector<pid_t> result;
  for (pid_t child; in >> child;)
    result.push_back(child);
  return result;
}

/// Kills the children a worker forked, by pid, when the test ends.
struct kill_children {
  pid_t parent;
  std::set<pid_t> extra;
  ~kill_children() {
    for (auto child : children_of(parent))
      ::kill(child, SIGKILL);
    for (auto child : extra)
      ::kill(child, SIGKILL);
  }
};

/// msgpack of a str.
std::vector<char> str_bytes(const std::string& text) {
  std::vector<char> out(1 + text.size());
  out[0] = static_cast<char>(0xa0 | text.size()); // fixstr: < 32 bytes
  std::copy(text.begin(), text.end(), out.begin() + 1);
  return out;
}

/// [func, module, name, [arg], {}] around an argument given as raw msgpack:
/// the node's encoder counts the envelope into the depth of a whole value,
/// so a 100-deep argument is spliced in by hand, as a node's request would carry it.
std::vector<char> func_with_raw_arg(const std::string& module, const std::string& name,
                                    const std::vector<char>& arg) {
  std::vector<char> out{'\x95', '\x01'};
  for (auto& part : {str_bytes(module), str_bytes(name)})
    out.insert(out.end(), part.begin(), part.end());
  out.push_back('\x91');
  out.insert(out.end(), arg.begin(), arg.end());
  out.push_back('\x80');
  return out;
}

value nested_list(int levels) {
  value v = list{};
  for (int i = 1; i < levels; ++i)
    v = list{v};
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(worker_hardening)

BOOST_AUTO_TEST_CASE(a_forked_child_that_returns_never_serves_the_channel) {
  worker_client w;
  kill_children cleanup{w.proc->pid(), {}};
  auto forked = w.call(func("os", "fork"));
  BOOST_REQUIRE_EQUAL(forked.status, 0);
  BOOST_REQUIRE(forked.payload.is<int64_t>());
  auto child = static_cast<pid_t>(forked.payload.as<int64_t>());
  BOOST_CHECK_GT(child, 0); // the parent's answer, never the child's 0
  cleanup.extra.insert(child);
  std::set<int64_t> pids;
  for (int i = 0; i < 200; ++i) {
    auto r = w.call(func("os", "getpid"));
    BOOST_REQUIRE_EQUAL(r.status, 0);
    pids.insert(r.payload.as<int64_t>());
  }
  BOOST_CHECK_EQUAL(pids.size(), 1u);
  BOOST_CHECK_EQUAL(*pids.begin(), w.proc->pid());
}

BOOST_AUTO_TEST_CASE(a_forked_child_that_keeps_running_cannot_read_the_channel) {
  worker_client w;
  kill_children cleanup{w.proc->pid(), {}};
  // The child lives on without returning; it reports whether fd 3 is still the channel.
  auto r = w.call(exec_request("import os, socket, sys\n"
                       "r, wfd = os.pipe()\n"
                       "child = os.fork()\n"
                       "if child == 0:\n"
                       "    try:\n"
                       "        s = socket.socket(fileno=os.dup(3))\n"
                       "        ok = b'channel' if s.family == socket.AF_UNIX else b'other'\n"
                       "    except OSError:\n"
                       "        ok = b'closed'\n"
                       "    os.write(wfd, ok)\n"
                       "    import time\n"
                       "    while True: time.sleep(1)\n"
                       "os.close(wfd)\n"
                       "seen = os.read(r, 100)\n"));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  auto seen = w.call(eval_in_empty("seen"));
  BOOST_CHECK((seen.payload == value{make_bytes("closed")}));
  std::set<int64_t> pids;
  for (int i = 0; i < 200; ++i)
    pids.insert(w.call(func("os", "getpid")).payload.as<int64_t>());
  BOOST_CHECK_EQUAL(pids.size(), 1u);
}

BOOST_AUTO_TEST_CASE(children_started_by_user_code_do_not_inherit_the_channel) {
  worker_client w;
  // dash's `[` is a builtin: /proc/self is the shell os.system started.
  auto sys = w.call(func("os", "system", {"[ -e /proc/self/fd/3 ]"}));
  BOOST_REQUIRE_EQUAL(sys.status, 0);
  BOOST_CHECK((sys.payload != value{0})); // fd 3 is not open in the child
  auto sub = w.call(eval_in_empty("__import__('subprocess').call(['sh', '-c', '[ -e /proc/self/fd/3 ]'], "
                         "close_fds=False)"));
  BOOST_CHECK((sub.payload == value{1}));
}

BOOST_AUTO_TEST_CASE(background_threads_run_while_the_worker_is_idle) {
  worker_client w;
  auto r = w.call(exec_request("import threading, time\n"
                       "def tick():\n"
                       "    for n in range(1, 51):\n"
                       "        time.sleep(0.01)\n"
                       "    print('ticked 50 times', flush=True)\n"
                       "threading.Thread(target=tick, daemon=True).start()\n"
                       "threading.Timer(0.2, lambda: print('timer fired', flush=True)).start()\n"));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  // No call runs from here on: the worker waits for a frame the whole time.
  BOOST_CHECK(w.log.wait_for("ticked 50 times", std::chrono::seconds(30)));
  BOOST_CHECK(w.log.wait_for("timer fired", std::chrono::seconds(30)));
}

BOOST_AUTO_TEST_CASE(a_result_over_the_frame_limit_is_an_error_and_the_worker_survives) {
  // The same checks as at the protocol's 1 GiB, at a limit of 1 MB: the
  // worker's --max-frame-size may only lower it (a wrapper passes it).
  std::string script = "/tmp/pyactor-test-small-frames-" + std::to_string(::getpid()) + ".sh";
  {
    std::ofstream out{script};
    out << "#!/bin/sh\nexec '" << pyactor::test::worker_executable()
        << "' --max-frame-size 1000000 \"$@\"\n";
  }
  ::chmod(script.c_str(), 0755);
  worker_client w{script};
  ::unlink(script.c_str());
  auto one = w.call(eval_in_empty("bytes(2000000)"));
  BOOST_CHECK_EQUAL(one.status, static_cast<uint8_t>(status::bad_request));
  BOOST_CHECK_MESSAGE(error_message(one).find("a bytes of 2000000 bytes, over the frame limit of "
                                              "1000000 bytes") != std::string::npos,
                      error_message(one));
  auto two = w.call(eval_in_empty("['x' * 600000] * 2"));
  BOOST_CHECK_EQUAL(two.status, static_cast<uint8_t>(status::bad_request));
  BOOST_CHECK_MESSAGE(error_message(two).find("more than 1200000 bytes") != std::string::npos
                        && error_message(two).find("frame limit of 1000000") != std::string::npos,
                      error_message(two));
  auto ints = w.call(eval_in_empty("list(range(1 << 20, (1 << 20) + 250000))")); // 5 bytes each
  BOOST_CHECK_EQUAL(ints.status, static_cast<uint8_t>(status::bad_request));
  BOOST_CHECK_MESSAGE(error_message(ints).find("the reply would be 1250") != std::string::npos,
                      error_message(ints));
  auto fits = w.call(eval_in_empty("bytes(900000)"));
  BOOST_CHECK_EQUAL(fits.status, 0);
  BOOST_CHECK((w.call(list{value{static_cast<int>(op::ping)}}).payload == value{"pong"}));
}

BOOST_AUTO_TEST_CASE(the_worker_refuses_to_raise_the_frame_limit) {
  pyactor::test::captured_log log; // outlives every copy of its handle
  auto opts = worker_client::spawn_options(pyactor::test::worker_executable());
  opts.log = log.handle();
  std::string script = "/tmp/pyactor-test-big-frames-" + std::to_string(::getpid()) + ".sh";
  {
    std::ofstream out{script};
    out << "#!/bin/sh\nexec '" << pyactor::test::worker_executable()
        << "' --max-frame-size 2000000000 \"$@\"\n";
  }
  ::chmod(script.c_str(), 0755);
  opts.executable = script;
  std::mutex mtx;
  std::condition_variable cv;
  std::optional<actors::process_exit> exit;
  actors::worker_events events;
  events.on_frame = [](uint64_t, uint8_t, std::vector<char>) {};
  events.on_exit = [&](actors::process_exit e) {
    std::lock_guard<std::mutex> guard{mtx};
    exit = std::move(e);
    cv.notify_all();
  };
  auto started = actors::worker_process::start(opts, std::move(events));
  BOOST_REQUIRE(started);
  {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, std::chrono::seconds(60), [&] { return exit.has_value(); });
  }
  ::unlink(script.c_str());
  BOOST_REQUIRE(exit);
  BOOST_CHECK_EQUAL(exit->exit_code, 2);
  BOOST_CHECK(log.wait_for("may only lower the protocol's limit", std::chrono::seconds(10)));
}

BOOST_AUTO_TEST_CASE(the_depth_limit_is_the_nodes) {
  worker_client w;
  // Arguments: 100 levels pass, 101 are refused, whatever the request's envelope.
  auto deep = w.call_raw(func_with_raw_arg("builtins", "len", codec::encode_msgpack(nested_list(100))));
  BOOST_CHECK((deep.payload == value{1}));
  std::vector<char> kw_raw{'\x93', '\x06'};
  for (auto& part : {str_bytes("len(x)"), std::vector<char>{'\x81'}, str_bytes("x"),
                     codec::encode_msgpack(nested_list(100))})
    kw_raw.insert(kw_raw.end(), part.begin(), part.end());
  auto kw = w.call_raw(kw_raw);
  BOOST_CHECK((kw.payload == value{1}));
  // 101 levels: the node's encoder refuses to write them, so the bytes are made by hand,
  // as a hostile peer would: [func, "builtins", "repr", [<101 nested arrays>], {}].
  std::vector<char> raw{'\x95', '\x01', '\xa8'};
  for (char c : std::string{"builtins"})
    raw.push_back(c);
  raw.push_back('\xa4');
  for (char c : std::string{"repr"})
    raw.push_back(c);
  raw.push_back('\x91'); // the argument array (envelope)
  raw.insert(raw.end(), 100, '\x91');
  raw.push_back('\x90');
  raw.push_back('\x80');
  auto too_deep = w.call_raw(raw);
  BOOST_CHECK_EQUAL(too_deep.status, static_cast<uint8_t>(status::bad_request));
  BOOST_CHECK_MESSAGE(error_message(too_deep).find("deeper than 100") != std::string::npos,
                      error_message(too_deep));
  // Results: what the worker sends, the node's decoder (the test's) accepts.
  for (const char* make : {"x = []\nfor _ in range(99): x = [x]\n",
                           "x = ()\nfor _ in range(99): x = (x,)\n",
                           "x = {}\nfor _ in range(99): x = {'k': x}\n"}) {
    BOOST_REQUIRE_EQUAL(w.call(exec_request(make)).status, 0);
    auto ok = w.call(eval_in_empty("x"));
    BOOST_CHECK_EQUAL(ok.status, 0);
    BOOST_CHECK((ok.payload != value{"<undecodable>"}));
    auto over = w.call(eval_in_empty("[x]"));
    BOOST_CHECK_EQUAL(over.status, static_cast<uint8_t>(status::bad_request));
    BOOST_CHECK_MESSAGE(error_message(over).find("deeper than 100") != std::string::npos,
                        error_message(over));
  }
  // An object reference is a scalar (pyactor/limits.hpp): 100 lists around it travel.
  BOOST_REQUIRE_EQUAL(w.call(exec_request("x = object()\nfor _ in range(100): x = [x]\n")).status, 0);
  auto refs = w.call(eval_in_empty("x"));
  BOOST_CHECK_EQUAL(refs.status, 0);
  BOOST_CHECK((refs.payload != value{"<undecodable>"}));
  BOOST_CHECK_EQUAL(w.call(eval_in_empty("[x]")).status, static_cast<uint8_t>(status::bad_request));
  // The node's own encoder draws the line at the same place.
  BOOST_CHECK(codec::encode_msgpack(nested_list(100)).size() > 0);
  BOOST_CHECK_THROW(codec::encode_msgpack(nested_list(101)), codec::encode_error);
}

BOOST_AUTO_TEST_CASE(unknown_operation_codes_are_refused_not_truncated) {
  worker_client w;
  // 257 would be op::func (1) if the code were cut to a byte.
  auto r = w.call(list{value{257}, value{"math"}, value{"pow"}, value{list{2, 3}}});
  BOOST_CHECK_EQUAL(r.status, static_cast<uint8_t>(status::bad_request));
  BOOST_CHECK_MESSAGE(error_message(r).find("unknown operation 257") != std::string::npos,
                      error_message(r));
  auto big = w.call(list{value{uint64_t{1} << 40}});
  BOOST_CHECK_EQUAL(big.status, static_cast<uint8_t>(status::bad_request));
}

BOOST_AUTO_TEST_CASE(a_users_sigint_handler_does_not_disable_interrupts) {
  worker_client w;
  auto set = w.call(exec_request("import signal\nprevious = signal.signal(signal.SIGINT, lambda *a: None)"));
  BOOST_REQUIRE_EQUAL(set.status, 0);
  BOOST_CHECK(w.log.wait_for("signal.signal(SIGINT, ...) is ignored", std::chrono::seconds(10)));
  auto id = w.send(exec_request("print('sleeping now', flush=True)\nimport time\ntime.sleep(20)"));
  BOOST_REQUIRE(w.log.wait_for("sleeping now", std::chrono::seconds(30)));
  w.proc->interrupt(id);
  auto r = w.next_frame();
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r->id, id);
  BOOST_CHECK_EQUAL(r->status, static_cast<uint8_t>(status::python_exception));
  BOOST_CHECK_EQUAL(error_type(*r), "KeyboardInterrupt");
}

BOOST_AUTO_TEST_CASE(a_sigint_handler_set_behind_python_is_replaced_before_the_next_call) {
  worker_client w;
  // SIG_IGN straight through libc, as a C library could.
  auto set = w.call(exec_request("import ctypes\nctypes.CDLL(None).signal(2, ctypes.c_void_p(1))"));
  BOOST_REQUIRE_EQUAL(set.status, 0);
  auto id = w.send(exec_request("print('sleeping again', flush=True)\nimport time\ntime.sleep(20)"));
  BOOST_REQUIRE(w.log.wait_for("sleeping again", std::chrono::seconds(30)));
  w.proc->interrupt(id);
  auto r = w.next_frame();
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r->status, static_cast<uint8_t>(status::python_exception));
  BOOST_CHECK_EQUAL(error_type(*r), "KeyboardInterrupt");
  BOOST_CHECK(w.log.wait_for("pyactor restored its own", std::chrono::seconds(10)));
}

BOOST_AUTO_TEST_CASE(python_errors_inside_a_batch_are_each_reported_and_nothing_leaks) {
  worker_client w;
  // Each failing entry's exception is taken where it is raised: the next entry
  // (and the next request) starts with no error set.
  auto r = w.call(list{value{static_cast<int>(op::batch)},
                       value{list{func("math", "sqrt", {-1}), func("operator", "add", {1, 2}),
                                  eval_in_empty("1/0"), eval_in_empty("__import__('sys').exc_info()[0] is None")}}});
  BOOST_REQUIRE_EQUAL(r.status, 0);
  const auto& entries = r.payload.as<list>();
  BOOST_REQUIRE_EQUAL(entries.size(), 4u);
  BOOST_CHECK((entries[0].as<list>().at(0) == value{static_cast<int>(status::python_exception)}));
  BOOST_CHECK((entries[1].as<list>().at(1) == value{3}));
  BOOST_CHECK((entries[2].as<list>().at(1).as<list>().at(0) == value{"ZeroDivisionError"}));
  BOOST_CHECK((entries[3].as<list>().at(1) == value{true}));
}

BOOST_AUTO_TEST_SUITE_END()
