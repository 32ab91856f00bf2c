// End to end through the C++ API (<pyactor/pyactor.hpp>) with real worker
// processes, including every example of lfex/py's README.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>

#include <unistd.h>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

/// One runtime with two workers shared by the lfex/py examples.
struct api_fixture {
  std::unique_ptr<runtime> rt;
  api_fixture() {
    auto started = runtime::start(test::test_options(2));
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
    rt = std::move(started).value();
  }
};

using test::ok;

std::string cwd() {
  char buf[4096];
  return ::getcwd(buf, sizeof(buf)) ? buf : "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(api)

BOOST_FIXTURE_TEST_CASE(lfex_py_module_functions_and_constants, api_fixture) {
  auto& py = *rt;
  BOOST_CHECK((ok(py.call("os", "getcwd")) == value{cwd()}));
  auto now = ok(py.call("datetime", "datetime.now"));
  BOOST_REQUIRE(now.is<tagged>());
  BOOST_CHECK_EQUAL(now.as<tagged>().tag, "datetime");
  BOOST_CHECK((ok(py.call("os.path", "isfile", {make_bytes("/tmp")})) == value{false}));
  BOOST_CHECK((ok(py.call("os.path", "isdir", {make_bytes("/tmp")})) == value{true}));
  BOOST_CHECK((ok(py.call("os", "path.isdir", {make_bytes("/tmp")})) == value{true}));
  BOOST_CHECK((ok(py.call("builtins", "int", {"101010"}, dict{{{"base", 2}}})) == value{42}));
  BOOST_CHECK((ok(py.constant("math", "pi")) == value{3.141592653589793}));
  BOOST_CHECK((ok(py.constant("math", "pi", "int")) == value{3}));
  BOOST_CHECK((ok(py.constant("math", "pi", "str")) == value{"3.141592653589793"}));
  BOOST_CHECK((ok(py.call("math", "pow", {2, 16})) == value{65536.0}));
}

BOOST_FIXTURE_TEST_CASE(lfex_py_objects_methods_and_attributes, api_fixture) {
  auto& py = *rt;
  BOOST_CHECK((ok(py.create("builtins", "dict")) == value{dict{}}));
  auto user_dict = ok(py.create("collections", "UserDict"));
  BOOST_REQUIRE(user_dict.is<object_ref>());
  BOOST_CHECK_EQUAL(user_dict.as<object_ref>().type_name, "UserDict");
  BOOST_CHECK((ok(py.create("datetime", "date", {1923, 4, 2}))
              == make_tagged("date", make_tuple(1923, 4, 2))));
  auto moment = make_tagged("datetime", make_tuple(2015, 1, 7, 12, 34, 56, 789, none_t{}));
  BOOST_CHECK((ok(py.method(moment, "strftime", {"%Y.%m.%d %H:%M:%S"}))
              == value{"2015.01.07 12:34:56"}));
  BOOST_CHECK((ok(py.attr(moment, "year")) == value{2015}));
  auto now = ok(py.call("datetime", "datetime.now"));
  BOOST_CHECK((ok(py.method(now, "strftime", {"%Y"})).is<std::string>()));
  auto later = make_tagged("datetime", make_tuple(2015, 1, 7, 12, 35, 41, 789, none_t{}));
  auto delta = ok(py.op("sub", {later, moment}));
  BOOST_REQUIRE(delta.is<tagged>());
  BOOST_CHECK_EQUAL(delta.as<tagged>().tag, "timedelta");
  BOOST_CHECK((ok(py.attr(delta, "seconds")) == value{45}));
}

BOOST_FIXTURE_TEST_CASE(lfex_py_builtins, api_fixture) {
  auto& py = *rt;
  BOOST_CHECK((ok(py.builtin("any", {make_list(true, false, false)})) == value{true}));
  BOOST_CHECK((ok(py.builtin("all", {make_list(true, false, true)})) == value{false}));
  BOOST_CHECK((ok(py.builtin("all", {make_list(true, true)})) == value{true}));
  auto big = ok(py.builtin("pow", {6, 42}));
  BOOST_REQUIRE(big.is<big_integer>());
  BOOST_CHECK_EQUAL(big.as<big_integer>().to_string(), "481229803398374426442198455156736");
  BOOST_CHECK((ok(py.builtin("round", {0.666666667, 5})) == value{0.66667}));
  auto r = ok(py.builtin("range", {7, 42}));
  BOOST_REQUIRE(r.is<object_ref>()); // a range has no by-value form: it stays in its worker
  BOOST_CHECK((ok(py.builtin("len", {r})) == value{35}));
  list expected;
  for (int i = 7; i < 42; ++i)
    expected.emplace_back(i);
  BOOST_CHECK((ok(py.builtin("list", {r})) == value{expected}));
  BOOST_CHECK(!py.builtin("print_all_the_things"));
  BOOST_CHECK_EQUAL(py.builtin("exec").error().code, errc::bad_request); // not in the list
}

BOOST_FIXTURE_TEST_CASE(lfex_py_operators, api_fixture) {
  auto& py = *rt;
  BOOST_CHECK((ok(py.op("add", {37, 5})) == value{42}));
  BOOST_CHECK((ok(py.op("mul", {7, 6})) == value{42}));
  BOOST_CHECK((ok(py.op("sub", {-108, -150})) == value{42}));
  BOOST_CHECK((ok(py.op("floordiv", {462, 11})) == value{42}));
  BOOST_CHECK((ok(py.op("truediv", {462, 11})) == value{42.0}));
  BOOST_CHECK((ok(py.op("gt", {7, 6})) == value{true}));
  BOOST_CHECK((ok(py.op("le", {7, 6})) == value{false}));
  BOOST_CHECK((ok(py.op("eq", {42, 42})) == value{true}));
  BOOST_CHECK((ok(py.op("and_", {60, 13})) == value{12}));
  BOOST_CHECK((ok(py.op("or_", {60, 13})) == value{61}));
  BOOST_CHECK((ok(py.op("xor", {60, 13})) == value{49}));
  BOOST_CHECK((ok(py.op("inv", {60})) == value{-61}));
  BOOST_CHECK((ok(py.op("rshift", {60, 2})) == value{15}));
  BOOST_CHECK((ok(py.op("lshift", {60, 2})) == value{240}));
  BOOST_CHECK_EQUAL(py.op("plus", {1, 2}).error().code, errc::bad_request);
}

BOOST_FIXTURE_TEST_CASE(every_builtin_and_operator_name_resolves_in_python, api_fixture) {
  for (auto& name : runtime::builtin_names())
    BOOST_CHECK_MESSAGE(ok(rt->eval("callable(getattr(__import__('builtins'), n))",
                                    dict{{{"n", name}}})) == value{true},
                        name);
  for (auto& name : runtime::operator_names())
    BOOST_CHECK_MESSAGE(ok(rt->eval("callable(getattr(__import__('operator'), n))",
                                    dict{{{"n", name}}})) == value{true},
                        name);
}

BOOST_FIXTURE_TEST_CASE(values_round_trip_by_value, api_fixture) {
  auto& py = *rt;
  auto echo = [&](const value& x) { return ok(py.eval("x", dict{{{"x", x}}})); };
  for (auto& x : {value{none_t{}}, value{true}, value{int64_t{-9223372036854775807LL - 1}},
                  value{1.5}, value{"text ünïcode"}, make_bytes(std::string("\0\1\2", 3)),
                  make_list(1, "a", make_list()), make_tuple(1, make_tuple()),
                  value{dict{{{"k", make_list(1, 2)}, {1, "one"}}}}, value{atom{"ok"}},
                  make_tagged("decimal", value{"1.10"}), make_tagged("complex", make_tuple(1.0, -2.0)),
                  make_tagged("set", make_list(3)), make_tagged("timedelta", make_tuple(1, 2, 3)),
                  make_tagged("my.unknown.tag", make_tuple(1, 2)),
                  make_tagged("datetime", make_tuple(2024, 2, 29, 23, 59, 58, 123456, 3600)),
                  make_tagged("time", make_tuple(12, 30, 0, 5, -7200)),
                  make_tagged("frozenset", make_list("a")), make_tagged("decimal", value{"NaN"})})
    BOOST_CHECK_MESSAGE(echo(x) == x, x.to_string() + " came back as " + echo(x).to_string());
  BOOST_CHECK((ok(py.eval("type(x).__name__", dict{{{"x", make_tagged("decimal", value{"1.10"})}}}))
              == value{"Decimal"}));
  BOOST_CHECK(ok(py.eval("2**64 + 1")).is<big_integer>());
  BOOST_CHECK(ok(py.eval("-(2**70)")).as<big_integer>().to_string() == "-1180591620717411303424");
  BOOST_CHECK(ok(py.eval("2**64 - 1")).as<big_integer>().to_string() == "18446744073709551615");
}

BOOST_FIXTURE_TEST_CASE(object_references_keep_state_in_their_worker, api_fixture) {
  auto& py = *rt;
  call_options by_ref;
  by_ref.by_ref = true;
  auto items = ok(py.create("builtins", "list", {}, {}, by_ref));
  BOOST_REQUIRE(items.is<object_ref>());
  for (int i = 0; i < 5; ++i) // every call on it goes to the worker that holds it
    ok(py.method(items, "append", {i}));
  BOOST_CHECK((ok(py.builtin("len", {items})) == value{5}));
  BOOST_CHECK((ok(py.builtin("sum", {items})) == value{10}));
  BOOST_CHECK((ok(py.release(items)) == value{1}));
  auto gone = py.builtin("len", {items});
  BOOST_REQUIRE(!gone);
  BOOST_CHECK_EQUAL(gone.error().code, errc::stale_ref);
}

BOOST_FIXTURE_TEST_CASE(references_of_two_workers_move_by_pickle_or_fail_clearly, api_fixture) {
  auto& py = *rt;
  call_options on1, on2;
  on1.worker = 1;
  on1.by_ref = on2.by_ref = true;
  on2.worker = 2;
  auto a = ok(py.create("builtins", "list", {make_list(1, 2)}, {}, on1));
  auto b = ok(py.create("builtins", "list", {make_list(3)}, {}, on2));
  BOOST_REQUIRE_NE(a.as<object_ref>().worker_uid, b.as<object_ref>().worker_uid);
  // b is copied into a's worker for the call; the originals stay where they are.
  BOOST_CHECK((ok(py.op("concat", {a, b})) == make_list(1, 2, 3)));
  BOOST_CHECK((ok(py.builtin("len", {b})) == value{1}));
  auto lock = ok(py.create("threading", "Lock", {}, {}, on2));
  auto refused = py.method(a, "append", {lock});
  BOOST_REQUIRE(!refused);
  BOOST_CHECK_EQUAL(refused.error().code, errc::cross_worker_ref);
  BOOST_CHECK(refused.error().message.find("pickle") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(errors_are_typed_and_name_what_failed, api_fixture) {
  auto& py = *rt;
  auto m = py.call("no_such_module_abc", "f");
  BOOST_REQUIRE(!m);
  BOOST_CHECK_EQUAL(m.error().code, errc::python_exception);
  BOOST_CHECK_EQUAL(m.error().python_type, "ModuleNotFoundError");
  BOOST_CHECK(m.error().message.find("no_such_module_abc") != std::string::npos);
  auto a = py.call("math", "no_such_function");
  BOOST_CHECK_EQUAL(a.error().python_type, "AttributeError");
  BOOST_CHECK_EQUAL(py.call("math", "sqrt", {"nine"}).error().python_type, "TypeError");
  auto t = py.call("json", "loads", {"{not json"});
  BOOST_CHECK_EQUAL(t.error().python_type, "json.decoder.JSONDecodeError");
  BOOST_CHECK(t.error().traceback.find("Traceback") != std::string::npos);
  BOOST_CHECK_THROW(t.value(), call_error);
  BOOST_CHECK_EQUAL(py.constant("math", "pi", "complex").error().code, errc::bad_request);
  BOOST_CHECK((ok(py.call("math", "sqrt", {9})) == value{3.0})); // the workers kept serving
}

BOOST_FIXTURE_TEST_CASE(async_calls_complete_in_parallel, api_fixture) {
  auto& py = *rt;
  std::vector<runtime::future> futures;
  for (int i = 0; i < 200; ++i)
    futures.push_back(py.call_async("operator", "mul", {i, 2}));
  for (int i = 0; i < 200; ++i)
    BOOST_CHECK((ok(futures[i].get()) == value{i * 2}));
  // Two sleeps of 0.5 s on two workers overlap: both end, each on its own worker.
  auto a = py.call_async("time", "sleep", {0.5});
  auto b = py.call_async("time", "sleep", {0.5});
  BOOST_CHECK(ok(a.get()).is_none());
  BOOST_CHECK(ok(b.get()).is_none());
  auto st = py.status();
  BOOST_REQUIRE_EQUAL(st.size(), 2u);
  BOOST_CHECK_GT(st[0].served, 0u);
  BOOST_CHECK_GT(st[1].served, 0u);
}

BOOST_FIXTURE_TEST_CASE(versions_report_debian_python, api_fixture) {
  auto v = ok(rt->versions());
  BOOST_REQUIRE(v.is<dict>());
  bool found = false;
  for (auto& kv : v.as<dict>().items)
    if (kv.first == value{"python_version"}) {
      found = true;
      BOOST_CHECK(kv.second.as<std::string>().rfind("3.11", 0) == 0);
    }
  BOOST_CHECK(found);
}

BOOST_AUTO_TEST_CASE(a_restarted_worker_makes_its_references_stale) {
  auto rt = runtime::start(test::test_options(1)).value();
  call_options by_ref;
  by_ref.by_ref = true;
  auto items = ok(rt->create("builtins", "list", {}, {}, by_ref));
  auto pid = rt->status().at(0).pid;
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  BOOST_REQUIRE(test::eventually([&] {
    auto w = rt->status().at(0);
    return w.state == "ready" && w.pid != pid;
  }));
  auto stale = rt->builtin("len", {items});
  BOOST_REQUIRE(!stale);
  BOOST_CHECK_EQUAL(stale.error().code, errc::stale_ref);
}

BOOST_AUTO_TEST_CASE(stopping_the_runtime_stops_every_worker_process) {
  std::vector<int64_t> pids;
  {
    auto rt = runtime::start(test::test_options(3)).value();
    for (auto& w : rt->status())
      pids.push_back(w.pid);
    BOOST_CHECK_EQUAL(pids.size(), 3u);
    for (auto pid : pids)
      BOOST_CHECK(test::process_alive(pid));
  }
  for (auto pid : pids)
    BOOST_CHECK(!test::process_alive(pid));
}

BOOST_AUTO_TEST_CASE(a_pending_call_gets_an_error_when_the_runtime_stops) {
  runtime::future slow;
  {
    auto rt = runtime::start(test::test_options(1)).value();
    slow = rt->call_async("time", "sleep", {60});
  }
  auto r = slow.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::not_running);
}

BOOST_AUTO_TEST_CASE(bad_options_and_config_files_name_the_problem) {
  auto o = test::test_options(1);
  o.policy = "fastest";
  auto bad_policy = runtime::start(o);
  BOOST_REQUIRE(!bad_policy);
  BOOST_CHECK(bad_policy.error().message.find("fastest") != std::string::npos);
  o = test::test_options(1);
  o.worker_executable = "/nonexistent/worker";
  BOOST_CHECK(runtime::start(o).error().message.find("/nonexistent/worker") != std::string::npos);

  // One config file, rewritten for each case and removed when the test ends.
  struct removed_at_end {
    std::string path = "/tmp/pyactor-test-" + std::to_string(::getpid()) + ".ini";
    ~removed_at_end() { std::remove(path.c_str()); }
  } config_file;
  auto write = [&config_file](const std::string& text) {
    std::ofstream{config_file.path} << text;
    return config_file.path;
  };
  auto load = [&](const std::string& text) { return runtime_options::from_file(write(text)); };
  auto good = load("[pyactor]\nworkers = 3\ntimeout = 2s\npolicy = \"round-robin\"\n"
                   "python-path = [\"/opt/app\"]\nmax-restarts = 2\nrestart-window = 1min\n");
  BOOST_REQUIRE_MESSAGE(good, (good ? "" : good.error().message));
  BOOST_CHECK_EQUAL(good.value().workers, 3u);
  BOOST_CHECK_EQUAL(good.value().default_timeout.count(), 2000);
  BOOST_CHECK_EQUAL(good.value().policy, "round-robin");
  BOOST_CHECK_EQUAL(good.value().python_path.at(0), "/opt/app");
  BOOST_CHECK_EQUAL(good.value().restart_window.count(), 60000);
  auto wrong_type = load("[pyactor]\nworkers = \"many\"\n");
  BOOST_REQUIRE(!wrong_type);
  BOOST_CHECK(wrong_type.error().message.find("workers") != std::string::npos);
  BOOST_CHECK(wrong_type.error().message.find("many") != std::string::npos);
  auto no_unit = load("[pyactor]\ntimeout = 5\n");
  BOOST_CHECK(no_unit.error().message.find("duration") != std::string::npos);
  auto typo = load("[pyactor]\nwokers = 2\n");
  BOOST_CHECK(typo.error().message.find("wokers") != std::string::npos);
  auto section = load("[pyactr]\nworkers = 2\n");
  BOOST_CHECK(section.error().message.find("pyactr") != std::string::npos);
  auto range = load("[pyactor]\nworkers = 5000\n");
  BOOST_CHECK(range.error().message.find("1024") != std::string::npos);
  auto missing = runtime_options::from_file("/nonexistent.ini");
  BOOST_CHECK(missing.error().message.find("/nonexistent.ini") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
