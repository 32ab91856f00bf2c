// pyactor-worker against a real interpreter, driven frame by frame through
// worker_process (no actors).
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <optional>

#include <sys/stat.h>

#include <msgpack.hpp>

#include "pyactor/codec/msgpack.hpp"
#include "actors/worker_process.hpp"
#include "worker/protocol.hpp"
#include "test_fixtures.hpp"
#include "worker_client.hpp"

using namespace pyactor;
using namespace pyactor::actors;
using pyactor::worker::op;
using pyactor::worker::status;
using pyactor::test::worker_client;
using pyactor::test::func;
using pyactor::test::error_type;
using pyactor::test::error_message;

BOOST_AUTO_TEST_SUITE(python_worker)

BOOST_AUTO_TEST_CASE(ready_frame_and_ping) {
  worker_client w;
  auto r = w.call(list{value{static_cast<int>(op::ping)}});
  BOOST_CHECK_EQUAL(r.status, 0);
  BOOST_CHECK((r.payload == value{"pong"}));
}

BOOST_AUTO_TEST_CASE(func_with_dotted_name_args_and_kwargs) {
  worker_client w;
  auto r = w.call(func("math", "pow", {2, 16}));
  BOOST_CHECK((r.payload == value{65536.0}));
  r = w.call(func("os", "path.isdir", {make_bytes("/tmp")}));
  BOOST_CHECK((r.payload == value{true}));
  r = w.call(func("builtins", "int", {"101010"}, dict{{{"base", 2}}}));
  BOOST_CHECK((r.payload == value{42}));
}

BOOST_AUTO_TEST_CASE(constant_with_casts) {
  worker_client w;
  auto c = [&](const char* cast) {
    return w.call(list{value{static_cast<int>(op::constant)}, value{"math"}, value{"pi"}, value{cast}});
  };
  BOOST_CHECK((c("").payload == value{3.141592653589793}));
  BOOST_CHECK((c("int").payload == value{3}));
  BOOST_CHECK((c("str").payload == value{"3.141592653589793"}));
  auto bad = c("complex");
  BOOST_CHECK_EQUAL(bad.status, static_cast<uint8_t>(status::python_exception));
  BOOST_CHECK_EQUAL(error_type(bad), "ValueError");
}

BOOST_AUTO_TEST_CASE(init_method_attr_and_release_on_references) {
  worker_client w;
  auto made = w.call(list{value{static_cast<int>(op::init)}, value{"collections"}, value{"UserDict"},
                          value{list{}}, value{dict{}}});
  BOOST_REQUIRE_EQUAL(made.status, 0);
  BOOST_REQUIRE(made.payload.is<object_ref>());
  auto ref = made.payload.as<object_ref>();
  BOOST_CHECK_EQUAL(ref.worker_uid, 77u);
  BOOST_CHECK_EQUAL(ref.type_name, "UserDict");
  auto m = w.call(list{value{static_cast<int>(op::method)}, made.payload, value{"update"},
                       value{list{value{dict{{{"a", 1}}}}}}, value{dict{}}});
  BOOST_CHECK_EQUAL(m.status, 0);
  auto a = w.call(list{value{static_cast<int>(op::attr)}, made.payload, value{"data"}});
  BOOST_CHECK((a.payload == value{dict{{{"a", 1}}}}));
  auto rel = w.call(list{value{static_cast<int>(op::release)}, value{list{value{ref.object_id}}}});
  BOOST_CHECK((rel.payload == value{1}));
  auto stale = w.call(list{value{static_cast<int>(op::attr)}, made.payload, value{"data"}});
  BOOST_CHECK_EQUAL(stale.status, static_cast<uint8_t>(status::stale_ref));
  BOOST_CHECK(error_message(stale).find("released") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(by_ref_keeps_a_list_alive_for_mutation) {
  worker_client w;
  auto made = w.call(func("builtins", "list", {}, {}, true));
  BOOST_REQUIRE(made.payload.is<object_ref>());
  w.call(list{value{static_cast<int>(op::method)}, made.payload, value{"append"}, value{list{value{5}}},
              value{dict{}}});
  auto n = w.call(func("builtins", "len", {made.payload}));
  BOOST_CHECK((n.payload == value{1}));
}

BOOST_AUTO_TEST_CASE(object_cap_gives_overloaded) {
  worker_client w; // max_objects = 3
  for (int i = 0; i < 3; ++i)
    BOOST_CHECK_EQUAL(w.call(func("builtins", "object")).status, 0);
  auto full = w.call(func("builtins", "object"));
  BOOST_CHECK_EQUAL(full.status, static_cast<uint8_t>(status::overloaded));
  BOOST_CHECK(error_message(full).find("max-objects") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(eval_and_exec_share_a_namespace) {
  worker_client w;
  auto x = w.call(list{value{static_cast<int>(op::exec)}, value{"counter = 40\ndef bump(n):\n    return counter + n\n"}});
  BOOST_CHECK_EQUAL(x.status, 0);
  BOOST_CHECK(x.payload.is_none());
  auto e = w.call(list{value{static_cast<int>(op::eval)}, value{"bump(y)"}, value{dict{{{"y", 2}}}}});
  BOOST_CHECK((e.payload == value{42}));
}

BOOST_AUTO_TEST_CASE(tagged_values_round_trip_through_python) {
  worker_client w;
  auto d = w.call(func("datetime", "date", {1923, 4, 2}));
  BOOST_CHECK(d.payload == make_tagged("date", make_tuple(1923, 4, 2)));
  auto s = w.call(func("datetime", "date.strftime", {d.payload, "%Y.%m.%d"}));
  BOOST_CHECK((s.payload == value{"1923.04.02"}));
  auto big = w.call(func("builtins", "pow", {6, 42}));
  BOOST_REQUIRE(big.payload.is<big_integer>());
  BOOST_CHECK_EQUAL(big.payload.as<big_integer>().to_string(), "481229803398374426442198455156736");
  auto back = w.call(func("builtins", "str", {big.payload}));
  BOOST_CHECK((back.payload == value{"481229803398374426442198455156736"}));
  auto t = w.call(func("builtins", "tuple", {make_list(1, "a")}));
  BOOST_CHECK(t.payload == make_tuple(1, "a"));
  auto a = w.call(func("pyactor", "Atom", {"ok"}));
  BOOST_CHECK((a.payload == value{atom{"ok"}}));
}

BOOST_AUTO_TEST_CASE(python_errors_name_what_failed_and_the_worker_keeps_serving) {
  worker_client w;
  auto m = w.call(func("no_such_module_xyz", "f"));
  BOOST_CHECK_EQUAL(m.status, static_cast<uint8_t>(status::python_exception));
  BOOST_CHECK_EQUAL(error_type(m), "ModuleNotFoundError");
  BOOST_CHECK(error_message(m).find("no_such_module_xyz") != std::string::npos);
  auto a = w.call(func("math", "nope"));
  BOOST_CHECK_EQUAL(error_type(a), "AttributeError");
  BOOST_CHECK(error_message(a).find("nope") != std::string::npos);
  auto args = w.call(func("math", "sqrt", {1, 2, 3}));
  BOOST_CHECK_EQUAL(error_type(args), "TypeError");
  auto z = w.call(list{value{static_cast<int>(op::eval)}, value{"1/0"}, value{dict{}}});
  BOOST_CHECK_EQUAL(error_type(z), "ZeroDivisionError");
  BOOST_CHECK(z.payload.as<list>().at(2).as<std::string>().find("Traceback") != std::string::npos);
  auto nc = w.call(func("math", "pi"));
  BOOST_CHECK_EQUAL(error_type(nc), "TypeError");
  BOOST_CHECK(error_message(nc).find("not callable") != std::string::npos);
  BOOST_CHECK((w.call(func("math", "pow", {2, 3})).payload == value{8.0}));
}

namespace {

/// Replaces the file at `path` with `body`.
void write_file(const std::filesystem::path& path, const std::string& body) {
  std::ofstream out{path, std::ios::trunc};
  out << body;
}

/// The test worker's options with `dir` on its Python path.
actors::worker_spawn_options options_with_path(const std::filesystem::path& dir) {
  auto opts = worker_client::spawn_options(pyactor::test::worker_executable());
  opts.python_path.push_back(dir.string());
  return opts;
}

} // namespace

// The worker remembers how to find `module.name`, never what it found: a
// rebinding, a reload and a module dropped from sys.modules are all seen by
// the very next call.
BOOST_AUTO_TEST_CASE(a_rebound_or_reloaded_callable_is_seen_by_the_next_call) {
  pyactor::test::temp_dir dir{"pyactor-rebind"};
  auto write_module = [&](const std::string& body) {
    write_file(dir.path / "rebind_mod.py", body);
  };
  write_module("def f():\n    return 1\n\nclass Box:\n    def g(self):\n        return 'g1'\n\n"
               "box = Box()\n");
  worker_client w{options_with_path(dir.path)};
  auto exec = [&](const std::string& code) {
    auto r = w.call(pyactor::test::exec_request(code));
    BOOST_REQUIRE_EQUAL(r.status, 0);
  };
  BOOST_CHECK((w.call(func("rebind_mod", "f")).payload == value{1}));
  BOOST_CHECK((w.call(func("rebind_mod", "box.g")).payload == value{"g1"}));
  // rebinding the attribute, and an attribute of an object on the path
  exec("import rebind_mod\nrebind_mod.f = lambda: 2\n");
  BOOST_CHECK((w.call(func("rebind_mod", "f")).payload == value{2}));
  exec("import rebind_mod\nrebind_mod.box.g = lambda: 'g2'\n");
  BOOST_CHECK((w.call(func("rebind_mod", "box.g")).payload == value{"g2"}));
  // importlib.reload runs the new source into the same module object
  write_module("def f():\n    return 3333\n");
  exec("import importlib, rebind_mod\nimportlib.invalidate_caches()\nimportlib.reload(rebind_mod)\n");
  BOOST_CHECK((w.call(func("rebind_mod", "f")).payload == value{3333}));
  // a module dropped from sys.modules is imported again, from its new source
  write_module("def f():\n    return 44444\n");
  exec("import sys\ndel sys.modules['rebind_mod']\n");
  BOOST_CHECK((w.call(func("rebind_mod", "f")).payload == value{44444}));
  // rebound to something that is not callable: the usual error, then fixed again
  exec("import rebind_mod\nrebind_mod.f = 5\n");
  auto nc = w.call(func("rebind_mod", "f"));
  BOOST_CHECK_EQUAL(error_type(nc), "TypeError");
  BOOST_CHECK(error_message(nc).find("rebind_mod.f is not callable") != std::string::npos);
  exec("import rebind_mod\nrebind_mod.f = lambda: 6\n");
  BOOST_CHECK((w.call(func("rebind_mod", "f")).payload == value{6}));
  // a name deleted after its first call: AttributeError naming it
  exec("import rebind_mod\ndel rebind_mod.f\n");
  auto gone = w.call(func("rebind_mod", "f"));
  BOOST_CHECK_EQUAL(error_type(gone), "AttributeError");
  BOOST_CHECK(error_message(gone).find("rebind_mod.f") != std::string::npos);
}

// A known path whose lookup raises something other than AttributeError (a
// module's __getattr__, PEP 562) reports that error, and looks it up once.
BOOST_AUTO_TEST_CASE(a_lookup_that_raises_reports_its_own_error) {
  pyactor::test::temp_dir dir{"pyactor-lookup"};
  write_file(dir.path / "lookup_mod.py",
             "calls = 0\nbroken = False\n\ndef __getattr__(name):\n    global calls\n"
             "    if name != 'boom':\n        raise AttributeError(name)\n    calls += 1\n"
             "    if broken:\n        raise ValueError('boom is not here')\n"
             "    return lambda: 'boom'\n");
  worker_client w{options_with_path(dir.path)};
  BOOST_CHECK((w.call(func("lookup_mod", "boom")).payload == value{"boom"}));
  auto set = w.call(pyactor::test::exec_request("import lookup_mod\nlookup_mod.broken = True\n"));
  BOOST_REQUIRE_EQUAL(set.status, 0);
  for (int i = 0; i < 2; ++i) {
    auto r = w.call(func("lookup_mod", "boom"));
    BOOST_CHECK_EQUAL(error_type(r), "ValueError");
    BOOST_CHECK(error_message(r).find("boom is not here") != std::string::npos);
  }
  // one lookup per call: the ValueError was not taken for a missing name
  // and tried again the slow way
  auto calls = w.call(pyactor::test::eval_request("__import__('lookup_mod').calls", dict{}));
  BOOST_CHECK((calls.payload == value{3}));
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_bad_request_and_the_worker_keeps_serving) {
  worker_client w;
  auto garbage = w.call_raw({'\xc1'}); // a msgpack byte that is never valid
  BOOST_CHECK_EQUAL(garbage.status, static_cast<uint8_t>(status::bad_request));
  auto truncated = w.call_raw({'\x93', '\x01'});
  BOOST_CHECK_EQUAL(truncated.status, static_cast<uint8_t>(status::bad_request));
  auto huge = w.call_raw({'\xdd', '\xff', '\xff', '\xff', '\xff'}); // array claiming 2^32-1 items
  BOOST_CHECK_EQUAL(huge.status, static_cast<uint8_t>(status::bad_request));
  auto not_array = w.call(value{5});
  BOOST_CHECK_EQUAL(not_array.status, static_cast<uint8_t>(status::bad_request));
  auto bad_op = w.call(list{value{99}});
  BOOST_CHECK(error_message(bad_op).find("unknown operation 99") != std::string::npos);
  auto bad_param = w.call(list{value{static_cast<int>(op::func)}, value{1}, value{"x"}});
  BOOST_CHECK(error_message(bad_param).find("module") != std::string::npos);
  auto foreign = w.call(list{value{static_cast<int>(op::attr)}, value{object_ref{5, 1, "list"}}, value{"x"}});
  BOOST_CHECK_EQUAL(foreign.status, static_cast<uint8_t>(status::cross_worker_ref));
  BOOST_CHECK((w.call(list{value{static_cast<int>(op::ping)}}).payload == value{"pong"}));
}

BOOST_AUTO_TEST_CASE(mutated_requests_never_bring_the_worker_down) {
  worker_client w;
  std::vector<std::vector<char>> seeds = {
    codec::encode_msgpack(func("operator", "add", {1, 2})),
    codec::encode_msgpack(func("builtins", "tuple", {make_list(make_tagged("date", make_tuple(2020, 1, 2)), make_bytes("ab"))})),
    codec::encode_msgpack(list{value{static_cast<int>(op::eval)}, value{"x"}, value{dict{{{"x", make_tuple(1, atom{"a"})}}}}}),
    codec::encode_msgpack(list{value{static_cast<int>(op::attr)}, value{object_ref{77, 1, "list"}}, value{"x"}}),
  };
  uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1103515245u + 12345u; };
  for (int i = 0; i < 2000; ++i) {
    auto body = seeds[next() % seeds.size()];
    for (int flips = 1 + next() % 4; flips > 0; --flips)
      body[next() % body.size()] = static_cast<char>(next() >> 16);
    if (next() % 5 == 0)
      body.resize(next() % body.size());
    auto r = w.call_raw(body); // exactly one reply, whatever the bytes
    BOOST_CHECK_LE(r.status, static_cast<uint8_t>(status::overloaded));
  }
  BOOST_CHECK((w.call(list{value{static_cast<int>(op::ping)}}).payload == value{"pong"}));
}

BOOST_AUTO_TEST_CASE(user_output_is_forwarded_line_by_line) {
  worker_client w;
  w.call(list{value{static_cast<int>(op::exec)}, value{"import sys\nprint('hello from python')\nprint('oops', file=sys.stderr)"}});
  BOOST_CHECK(w.log.wait_for("[worker 1 pid " + std::to_string(w.proc->pid()) + "] hello from python",
                             std::chrono::seconds(10)));
  BOOST_CHECK(w.log.wait_for("stderr: oops", std::chrono::seconds(10)));
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  worker_client w;
  std::vector<char> all;
  for (uint64_t id = 1; id <= 100; ++id) {
    auto body = codec::encode_msgpack(func("operator", "mul", {static_cast<int>(id), 2}));
    std::vector<char> buf(worker::request_header_size);
    worker::put_u64(buf.data() + 4, id);
    buf.insert(buf.end(), body.begin(), body.end());
    worker::seal_frame(buf, 0);
    all.insert(all.end(), buf.begin(), buf.end());
  }
  w.proc->send(all.data(), all.size());
  for (uint64_t id = 1; id <= 100; ++id) {
    auto f = w.next_frame();
    BOOST_REQUIRE(f);
    BOOST_CHECK_EQUAL(f->id, id);
    BOOST_CHECK((f->payload == value{static_cast<int>(id * 2)}));
  }
}

BOOST_AUTO_TEST_CASE(large_bytes_round_trip) {
  worker_client w;
  std::vector<uint8_t> mib(1 << 20);
  for (size_t i = 0; i < mib.size(); ++i)
    mib[i] = static_cast<uint8_t>(i * 7);
  auto r = w.call(func("builtins", "bytes", {value{bytes{mib}}}));
  BOOST_CHECK((r.payload == value{bytes{mib}}));
}

BOOST_AUTO_TEST_CASE(death_is_reported_with_the_signal) {
  worker_client w;
  auto pid = w.proc->pid();
  ::kill(pid, SIGKILL);
  auto e = w.wait_exit();
  BOOST_REQUIRE(e);
  BOOST_CHECK_EQUAL(e->signal, SIGKILL);
  BOOST_CHECK(e->reason.find("signal 9") != std::string::npos);
  BOOST_CHECK(!pyactor::test::process_alive(pid));
}

BOOST_AUTO_TEST_CASE(exit_code_of_os_exit_is_reported) {
  worker_client w;
  auto body = codec::encode_msgpack(func("os", "_exit", {7}));
  std::vector<char> buf(worker::request_header_size);
  worker::put_u64(buf.data() + 4, 1);
  buf.insert(buf.end(), body.begin(), body.end());
  worker::seal_frame(buf, 0);
  w.proc->send(buf.data(), buf.size());
  auto e = w.wait_exit();
  BOOST_REQUIRE(e);
  BOOST_CHECK_EQUAL(e->exit_code, 7);
  BOOST_CHECK(e->reason.find("exited with code 7") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_malformed_frame_from_the_worker_kills_it) {
  // A real process that speaks garbage on its reply pipe (fd 4) instead of frames.
  std::string script = "/tmp/pyactor-test-garbage-worker.sh";
  {
    std::ofstream out{script};
    out << "#!/bin/sh\nprintf '\\001\\000\\000\\000zzzz' >&4\nexec sleep 30\n";
  }
  ::chmod(script.c_str(), 0755);
  worker_spawn_options opts;
  opts.executable = script;
  opts.slot = 9;
  std::mutex mtx;
  std::condition_variable cv;
  std::optional<process_exit> exit;
  int frames = 0;
  worker_events events;
  events.on_frame = [&](uint64_t, uint8_t, std::vector<char>) { ++frames; };
  events.on_exit = [&](process_exit e) {
    std::lock_guard<std::mutex> guard{mtx};
    exit = std::move(e);
    cv.notify_all();
  };
  auto started = worker_process::start(opts, std::move(events));
  BOOST_REQUIRE(started);
  auto pid = started.value()->pid();
  {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, std::chrono::seconds(30), [&] { return exit.has_value(); });
  }
  BOOST_REQUIRE(exit);
  BOOST_CHECK_EQUAL(frames, 0);
  BOOST_CHECK(exit->reason.find("malformed frame") != std::string::npos);
  BOOST_CHECK(!pyactor::test::process_alive(pid));
  ::unlink(script.c_str());
}

BOOST_AUTO_TEST_CASE(a_missing_executable_is_a_clear_error) {
  worker_spawn_options opts;
  opts.executable = "/nonexistent/pyactor-worker";
  auto started = worker_process::start(opts, worker_events{});
  BOOST_REQUIRE(!started);
  BOOST_CHECK(started.error().message.find("/nonexistent/pyactor-worker") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
