// The worker host: a real Python executable (Debian's, or a virtualenv's)
// running pyactor's worker module, chosen with the `python` option; a wrong
// choice is one clear error at start (issue 12).
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_fixtures.hpp"

using namespace pyactor;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, const std::string& text, bool executable = false) {
  std::ofstream{p} << text;
  if (executable)
    ::chmod(p.c_str(), 0755);
}

std::string start_error(runtime_options o) {
  auto rt = runtime::start(std::move(o));
  BOOST_REQUIRE_MESSAGE(!rt, "the runtime started with a wrong python");
  BOOST_CHECK(rt.error().code == errc::bad_request);
  return rt.error().message;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(python_host)

BOOST_AUTO_TEST_CASE(workers_run_debians_python_executable) {
  auto rt = runtime::start(pyactor::test::test_options(1));
  BOOST_REQUIRE_MESSAGE(rt, (rt ? "" : rt.error().message));
  auto v = rt.value()->versions();
  BOOST_REQUIRE(v);
  auto info = v.value().as<dict>();
  auto find = [&](const char* key) {
    for (auto& kv : info.items)
      if (kv.first == value{key})
        return kv.second;
    return value{};
  };
  BOOST_CHECK((find("executable") == value{"/usr/bin/python3"}));
  // The process is that executable, not a program embedding libpython.
  auto exe = rt.value()->eval("__import__('os').readlink('/proc/self/exe')");
  BOOST_REQUIRE(exe);
  BOOST_CHECK_MESSAGE(has(exe.value().as<std::string>(), "python3"), exe.value().as<std::string>());
  auto module = rt.value()->eval("__import__('sys').modules['_pyactor_worker'].__file__");
  BOOST_REQUIRE(module);
  BOOST_CHECK(has(module.value().as<std::string>(), "_pyactor_worker"));
}

BOOST_AUTO_TEST_CASE(a_virtualenv_s_packages_are_importable_in_every_worker) {
  test::temp_dir tmp{"pyactor-host-test"};
  auto venv = tmp.path / "venv";
  auto cmd = "/usr/bin/python3 -m venv --system-site-packages --without-pip '" + venv.string()
             + "'";
  int status = std::system(cmd.c_str());
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0, cmd);
  // A module only the venv has.
  std::string site;
  for (auto& entry : fs::directory_iterator(venv / "lib"))
    site = (entry.path() / "site-packages").string();
  BOOST_REQUIRE(fs::is_directory(site));
  write_file(fs::path{site} / "pyactor_venv_probe.py",
             "import os, sys\n"
             "def where():\n"
             "    return [sys.prefix, os.getpid()]\n");
  auto o = pyactor::test::test_options(2);
  o.python = (venv / "bin" / "python").string();
  auto rt = runtime::start(o);
  BOOST_REQUIRE_MESSAGE(rt, (rt ? "" : rt.error().message));
  auto replies = rt.value()->broadcast("pyactor_venv_probe", "where");
  BOOST_REQUIRE_EQUAL(replies.size(), 2u);
  for (auto& r : replies) {
    BOOST_REQUIRE_MESSAGE(r.outcome, (r.outcome ? "" : r.outcome.error().message));
    BOOST_CHECK((r.outcome.value().as<list>().at(0) == value{venv.string()}));
  }
  // Debian's packages stay importable (--system-site-packages), pyactor's too.
  auto sys_pkg = rt.value()->eval("__import__('pytest').__file__.startswith('/usr/lib/python3/dist-packages')");
  BOOST_CHECK_MESSAGE(sys_pkg && sys_pkg.value() == value{true},
                      (sys_pkg ? "" : sys_pkg.error().message));
}

BOOST_AUTO_TEST_CASE(a_missing_python_is_named) {
  auto o = pyactor::test::test_options(1);
  o.python = "/nonexistent/venv/bin/python";
  auto message = start_error(o);
  BOOST_CHECK_MESSAGE(has(message, "'/nonexistent/venv/bin/python'")
                        && has(message, "No such file or directory"),
                      message);
}

BOOST_AUTO_TEST_CASE(a_program_that_is_not_python_is_named) {
  test::temp_dir tmp{"pyactor-host-test"};
  auto o = pyactor::test::test_options(1);
  o.python = "/bin/true";
  auto message = start_error(o);
  BOOST_CHECK_MESSAGE(has(message, "'/bin/true' is not a Python interpreter"), message);
  auto fake = tmp.path / "python";
  write_file(fake, "#!/bin/sh\necho 'no python here' >&2\nexit 4\n", true);
  o.python = fake.string();
  message = start_error(o);
  BOOST_CHECK_MESSAGE(has(message, fake.string()) && has(message, "exited with code 4")
                        && has(message, "no python here"),
                      message);
  o.python = tmp.path.string();
  message = start_error(o);
  BOOST_CHECK_MESSAGE(has(message, "is a directory"), message);
}

BOOST_AUTO_TEST_CASE(another_minor_version_is_named_with_the_version_found) {
  test::temp_dir tmp{"pyactor-host-test"};
  // A stand-in for a Python 3.9: it answers the check as that version would.
  auto fake = tmp.path / "python3.9";
  write_file(fake, "#!/bin/sh\necho 'pyactor-python-probe 3.9.18'\n", true);
  auto o = pyactor::test::test_options(1);
  o.python = fake.string();
  auto message = start_error(o);
  BOOST_CHECK_MESSAGE(has(message, fake.string()) && has(message, "is Python 3.9.18")
                        && has(message, "built for Python 3.11"),
                      message);
}

BOOST_AUTO_TEST_CASE(the_python_option_reads_from_config_and_cli) {
  test::temp_dir tmp{"pyactor-host-test"};
  auto ini = tmp.path / "host.ini";
  write_file(ini, "[pyactor]\npython = \"/nonexistent/python3\"\n");
  auto loaded = runtime_options::from_file(ini.string());
  BOOST_REQUIRE(loaded);
  BOOST_CHECK_EQUAL(loaded.value().python, "/nonexistent/python3");
  // The CLI: a wrong --python fails at start, naming it, without a crash loop.
  auto out = tmp.path / "out";
  auto cmd = std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor --python /nonexistent/python3 eval 1 >'"
             + out.string() + "' 2>&1";
  int status = std::system(cmd.c_str());
  std::ifstream in{out};
  std::stringstream text;
  text << in.rdbuf();
  BOOST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  BOOST_CHECK_MESSAGE(has(text.str(), "python '/nonexistent/python3'"), text.str());
  auto ok_cmd = std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor --workers 1 --python /usr/bin/python3 "
                "eval '__import__(\"sys\").executable' >'" + out.string() + "' 2>&1";
  status = std::system(ok_cmd.c_str());
  std::ifstream in2{out};
  std::stringstream text2;
  text2 << in2.rdbuf();
  BOOST_CHECK_EQUAL(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  BOOST_CHECK_MESSAGE(has(text2.str(), "/usr/bin/python3"), text2.str());
}

BOOST_AUTO_TEST_SUITE_END()
