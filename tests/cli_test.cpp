// The `pyactor` command line, run as a real process.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include "test_fixtures.hpp"

namespace {

struct outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs `pyactor ARGS` through the shell, with `input` on stdin.
outcome run(const std::string& args, const std::string& input = "") {
  auto base = "/tmp/pyactor-cli-test-" + std::to_string(::getpid());
  std::ofstream{base + ".in"} << input;
  auto cmd = std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor " + args + " <" + base + ".in >" + base
             + ".out 2>" + base + ".err";
  int status = std::system(cmd.c_str());
  outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.out = slurp(base + ".out");
  o.err = slurp(base + ".err");
  for (auto ext : {".in", ".out", ".err"})
    std::remove((base + ext).c_str());
  return o;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(run_tours_the_embedded_default) {
  auto o = run("run --workers 2");
  BOOST_CHECK_EQUAL(o.exit_code, 0);
  BOOST_CHECK(has(o.out, "2 Python workers on this node"));
  BOOST_CHECK(has(o.out, "481229803398374426442198455156736"));
  BOOST_CHECK(has(o.out, "#date(1923, 4, 2)"));
  BOOST_CHECK(has(o.out, "  worker 1\n    -> ") && has(o.out, "  worker 2\n    -> "));
  BOOST_CHECK(has(o.out, "[1.0, 2.0, 4.0, 8.0, 16.0]"));
}

BOOST_AUTO_TEST_CASE(call_eval_versions_and_status) {
  auto o = run("--workers 1 call math.pow 2 16");
  BOOST_CHECK_EQUAL(o.exit_code, 0);
  BOOST_CHECK_EQUAL(o.out, "65536.0\n");
  BOOST_CHECK_EQUAL(run("call builtins.int '\"101010\"' --kw base=2 --workers 1").out, "42\n");
  BOOST_CHECK_EQUAL(run("--workers 1 call os.path.isdir /tmp").out, "True\n");
  BOOST_CHECK_EQUAL(run("--workers 1 eval '2**70'").out, "1180591620717411303424\n");
  BOOST_CHECK(has(run("--workers 1 versions").out, "'python_version': '3.11"));
  auto st = run("--workers 2 status");
  BOOST_CHECK_EQUAL(st.exit_code, 0);
  BOOST_CHECK(has(st.out, "policy: least-loaded"));
  BOOST_CHECK(has(st.out, "ready"));
}

BOOST_AUTO_TEST_CASE(broadcast_and_map) {
  auto b = run("--workers 2 broadcast os.getpid");
  BOOST_CHECK_EQUAL(b.exit_code, 0);
  BOOST_CHECK(has(b.out, "worker 1: ") && has(b.out, "worker 2: "));
  auto m = run("--workers 2 map math.sqrt --from -", "[1]\n[4]\n\n[9]\n");
  BOOST_CHECK_EQUAL(m.exit_code, 0);
  BOOST_CHECK_EQUAL(m.out, "1.0\n2.0\n3.0\n");
  BOOST_CHECK(has(m.err, "3 items, 0 failed"));
  auto c = run("--workers 2 map math.sqrt --from - --as-completed --chunk 1", "[1]\n[-1]\n");
  BOOST_CHECK_EQUAL(c.exit_code, 1);
  BOOST_CHECK(has(c.out, "0\t1.0\n"));
  BOOST_CHECK(has(c.out, "1\terror python_exception: ValueError"));
  BOOST_CHECK(has(c.err, "pyactor map:")); // progress lines, not on a terminal here
}

BOOST_AUTO_TEST_CASE(errors_name_the_problem_and_exit_non_zero) {
  auto failed = run("--workers 1 call math.nope");
  BOOST_CHECK_EQUAL(failed.exit_code, 1);
  BOOST_CHECK(has(failed.err, "AttributeError"));
  BOOST_CHECK(has(failed.err, "nope"));
  auto literal = run("--workers 1 call math.pow 2 '[1,'");
  BOOST_CHECK_EQUAL(literal.exit_code, 2);
  BOOST_CHECK(has(literal.err, "'[1,'"));
  BOOST_CHECK_EQUAL(run("--workers 0 run").exit_code, 2);
  BOOST_CHECK(has(run("--workers many run").err, "'many'"));
  BOOST_CHECK(has(run("frobnicate").err, "unknown command 'frobnicate'"));
  BOOST_CHECK(has(run("call mathpow").err, "MODULE.FUNC"));
  auto bad_line = run("--workers 1 map math.sqrt --from -", "[1]\nnot a list\n");
  BOOST_CHECK_EQUAL(bad_line.exit_code, 2);
  BOOST_CHECK(has(bad_line.err, "line 2"));
  BOOST_CHECK(has(run("map math.sqrt --from /nonexistent").err, "/nonexistent"));
  std::ofstream{"/tmp/pyactor-cli-bad.ini"} << "[pyactor]\nworkers = \"x\"\n";
  auto cfg = run("--config /tmp/pyactor-cli-bad.ini run");
  BOOST_CHECK_EQUAL(cfg.exit_code, 2);
  BOOST_CHECK(has(cfg.err, "workers must be an integer"));
  std::remove("/tmp/pyactor-cli-bad.ini");
}

BOOST_AUTO_TEST_CASE(help_on_every_command) {
  BOOST_CHECK(has(run("--help").out, "usage: pyactor"));
  for (auto cmd : {"run", "call", "eval", "versions", "status", "broadcast", "map"}) {
    auto o = run(std::string{cmd} + " --help");
    BOOST_CHECK_MESSAGE(o.exit_code == 0 && has(o.out, "usage: pyactor"), cmd);
  }
}

BOOST_AUTO_TEST_CASE(the_default_config_file_is_valid) {
  auto o = run("--config " + std::string{PYACTOR_TEST_SOURCE_DIR} + "/config/default.ini --workers 1 eval 1+1");
  BOOST_CHECK_EQUAL(o.exit_code, 0);
  BOOST_CHECK_EQUAL(o.out, "2\n");
}

BOOST_AUTO_TEST_SUITE_END()
