// How a worker process starts (issue 12): with pyactor's own launcher the
// node runs the Python executable itself, with the command the launcher
// would exec (worker/python_boot.h); any other worker-executable is run as
// given. Both reach the same worker: same sys.path, same module, same venv.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "install_layout.hpp"
#include "test_fixtures.hpp"
#include "worker/python_boot.h"
#include "worker_client.hpp"

using namespace pyactor;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in{p};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The build tree's layout with its own launcher.
install_layout own_layout() {
  auto layout = find_install_layout(test::worker_executable());
  BOOST_REQUIRE_MESSAGE(layout, (layout ? "" : layout.error().message));
  return layout.value();
}

/// Spawn options for the direct start: no usable launcher at all, so a
/// worker that reports ready was started without one.
actors::worker_spawn_options direct_options(const std::string& python) {
  auto opts = test::worker_client::spawn_options("/nonexistent/pyactor-worker");
  opts.module_dir = own_layout().module_dir;
  opts.python = python;
  return opts;
}

value eval(test::worker_client& w, const std::string& code) {
  auto reply
    = w.call(list{value{static_cast<int>(worker::op::eval)}, value{code}, value{dict{}}});
  BOOST_REQUIRE_EQUAL(static_cast<int>(reply.status), 0);
  return reply.payload;
}

/// A venv made with --system-site-packages in `dir`, holding a module
/// `pyactor_start_probe` only it has; returns its bin/python.
std::string make_venv(const fs::path& dir) {
  auto venv = dir / "venv";
  auto cmd = "/usr/bin/python3 -m venv --system-site-packages --without-pip '" + venv.string()
             + "'";
  int status = std::system(cmd.c_str());
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0, cmd);
  fs::path site;
  for (auto& entry : fs::directory_iterator(venv / "lib"))
    site = entry.path() / "site-packages";
  BOOST_REQUIRE(fs::is_directory(site));
  std::ofstream{site / "pyactor_start_probe.py"}
    << "import sys\nPREFIX = sys.prefix\ndef prefix():\n    return sys.prefix\n";
  return (venv / "bin" / "python").string();
}

} // namespace

BOOST_AUTO_TEST_SUITE(worker_start)

BOOST_AUTO_TEST_CASE(the_layout_bypasses_only_its_own_launcher) {
  auto own = own_layout();
  BOOST_REQUIRE(!own.module_dir.empty());
  bool module_there = false;
  for (auto& entry : fs::directory_iterator(own.module_dir))
    module_there |= has(entry.path().filename().string(), "_pyactor_worker");
  BOOST_CHECK_MESSAGE(module_there, "no _pyactor_worker module in " + own.module_dir);
  BOOST_CHECK(!own.default_python.empty());
  // The same launcher through a symlink is still ours.
  test::temp_dir tmp{"pyactor-start-test"};
  auto link = tmp.path / "pyactor-worker";
  fs::create_symlink(test::worker_executable(), link);
  auto linked = find_install_layout(link.string());
  BOOST_REQUIRE(linked);
  BOOST_CHECK_EQUAL(linked.value().module_dir, own.module_dir);
  // Another program (a wrapper script) is never bypassed.
  auto script = tmp.path / "wrapper.sh";
  std::ofstream{script} << "#!/bin/sh\nexec '" << test::worker_executable() << "' \"$@\"\n";
  ::chmod(script.c_str(), 0755);
  auto other = find_install_layout(script.string());
  BOOST_REQUIRE(other);
  BOOST_CHECK(other.value().module_dir.empty());
  BOOST_CHECK_EQUAL(other.value().worker_executable, script.string());
}

BOOST_AUTO_TEST_CASE(a_direct_start_needs_no_launcher_and_sets_up_the_same_worker) {
  test::worker_client w{direct_options("/usr/bin/python3")};
  BOOST_CHECK((eval(w, "__import__('sys').executable") == value{"/usr/bin/python3"}));
  BOOST_CHECK((eval(w, "__import__('os').readlink('/proc/self/exe').startswith('/usr/bin/python3')")
               == value{true}));
  // sys.argv as the launcher leaves it: '-c', then the worker's arguments.
  auto argv = eval(w, "__import__('sys').argv[:3]").as<list>();
  BOOST_REQUIRE_EQUAL(argv.size(), 3u);
  BOOST_CHECK((argv[0] == value{"-c"}));
  BOOST_CHECK((argv[1] == value{"--channel-fd"}));
  // sys.path: the configured entry first, then the module's folder.
  auto path = eval(w, "__import__('sys').path[:2]").as<list>();
  BOOST_REQUIRE_EQUAL(path.size(), 2u);
  BOOST_CHECK((path[0] == value{test::python_dir()}));
  BOOST_CHECK((path[1] == value{own_layout().module_dir}));
  BOOST_CHECK((eval(w, "__import__('sys').modules['_pyactor_worker'].__file__.startswith("
                       "'" + own_layout().module_dir + "/')")
               == value{true}));
  // The launcher's flags: -E -P -B (and -u).
  BOOST_CHECK((eval(w, "(lambda f: f.ignore_environment == 1 and f.safe_path "
                       "and f.dont_write_bytecode == 1)(__import__('sys').flags)")
               == value{true}));
  // It dies with the node (PR_GET_PDEATHSIG gives SIGKILL).
  BOOST_CHECK((eval(w, "(lambda c: (lambda s: (c.CDLL(None).prctl(2, c.byref(s)), s.value)[1])"
                       "(c.c_int()))(__import__('ctypes'))")
               == value{9}));
}

BOOST_AUTO_TEST_CASE(a_direct_start_runs_a_virtualenv_s_python) {
  test::temp_dir tmp{"pyactor-start-test"};
  auto python = make_venv(tmp.path);
  test::worker_client w{direct_options(python)};
  auto prefix = eval(w, "__import__('pyactor_start_probe').PREFIX");
  BOOST_CHECK((prefix == value{(tmp.path / "venv").string()}));
  BOOST_CHECK((eval(w, "__import__('sys').executable") == value{python}));
}

BOOST_AUTO_TEST_CASE(the_package_s_bytecode_is_built_and_fresh) {
  // Workers run with -B: without the build's bytecode each start would
  // compile the package. Every pyactor module a worker loaded has a .pyc
  // whose header names its source's current mtime and size.
  test::worker_client w{direct_options("/usr/bin/python3")};
  auto stale = eval(w, R"PY([n for n, m in __import__('sys').modules.items()
 if n == 'pyactor' or n.startswith('pyactor.')
 if not (lambda os, src, pyc: os.path.isfile(pyc) and (lambda h, st: h[8:12] == (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, 'little') and h[12:16] == (st.st_size & 0xFFFFFFFF).to_bytes(4, 'little'))(open(pyc, 'rb').read(16), os.stat(src)))(__import__('os'), m.__file__, m.__cached__)])PY");
  BOOST_CHECK_MESSAGE(stale.as<list>().empty(), "stale or missing bytecode: " + stale.to_string());
  auto loaded = eval(w, "len([n for n in __import__('sys').modules if n.startswith('pyactor.')])");
  BOOST_CHECK(loaded.as<int64_t>() >= 3); // pyactor.types, .encoders, ._worker
}

BOOST_AUTO_TEST_CASE(a_missing_python_in_a_direct_start_is_named) {
  auto opts = direct_options("/nonexistent/venv/bin/python");
  auto started = actors::worker_process::start(opts, actors::worker_events{});
  BOOST_REQUIRE(!started);
  BOOST_CHECK(started.error().code == errc::bad_request);
  BOOST_CHECK_MESSAGE(has(started.error().message, "/nonexistent/venv/bin/python"),
                      started.error().message);
  BOOST_CHECK_MESSAGE(has(started.error().message, "python option"), started.error().message);
}

BOOST_AUTO_TEST_CASE(the_launcher_prints_the_command_the_node_runs) {
  test::temp_dir tmp{"pyactor-start-test"};
  auto out = tmp.path / "command";
  auto cmd = "'" + test::worker_executable() + "' --print-command --python /opt/py --worker-id 4 > '"
             + out.string() + "'";
  int status = std::system(cmd.c_str());
  BOOST_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::string> args;
  std::istringstream in{read_file(out)};
  for (std::string arg; std::getline(in, arg, '\0');)
    args.push_back(arg);
  std::vector<std::string> expected{"/opt/py", PYACTOR_PYTHON_FLAGS, "-c", PYACTOR_PYTHON_BOOT,
                                    own_layout().module_dir, "--worker-id", "4"};
  BOOST_CHECK_EQUAL_COLLECTIONS(args.begin(), args.end(), expected.begin(), expected.end());
}

BOOST_AUTO_TEST_CASE(a_custom_worker_executable_is_run_as_given) {
  // A wrapper that records its arguments and hands over to the launcher.
  test::temp_dir tmp{"pyactor-start-test"};
  auto record = tmp.path / "args";
  auto script = tmp.path / "wrapper.sh";
  std::ofstream{script} << "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '" << record.string()
                        << "'\nexec '" << test::worker_executable() << "' \"$@\"\n";
  ::chmod(script.c_str(), 0755);
  auto python = make_venv(tmp.path);
  auto o = test::test_options(2);
  o.worker_executable = script.string();
  o.python = python;
  auto rt = test::start_pool(o);
  auto replies = rt->broadcast("pyactor_start_probe", "prefix");
  BOOST_REQUIRE_EQUAL(replies.size(), 2u);
  for (auto& r : replies) {
    BOOST_REQUIRE_MESSAGE(r.outcome, (r.outcome ? "" : r.outcome.error().message));
    BOOST_CHECK((r.outcome.value() == value{(tmp.path / "venv").string()}));
  }
  rt.reset();
  // Both workers went through the wrapper, which got --python for the launcher.
  auto seen = read_file(record);
  size_t starts = 0;
  for (size_t at = seen.find("--channel-fd"); at != std::string::npos;
       at = seen.find("--channel-fd", at + 1))
    ++starts;
  BOOST_CHECK_EQUAL(starts, 2u);
  BOOST_CHECK_MESSAGE(has(seen, "--python\n" + python + "\n"), seen);
}

BOOST_AUTO_TEST_SUITE_END()
