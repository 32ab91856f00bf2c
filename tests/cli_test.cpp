// The `pyactor` command line, run as a real process.
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

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

/// Runs a bash script (for pipes and process substitution); `pyactor` in it
/// is the built CLI.
outcome run_bash(const std::string& script) {
  auto base = "/tmp/pyactor-cli-test-" + std::to_string(::getpid());
  std::ofstream{base + ".sh"} << "pyactor() { " << PYACTOR_TEST_BIN_DIR << "/pyactor \"$@\"; }\n"
                              << script << "\n";
  auto cmd = "bash " + base + ".sh </dev/null >" + base + ".out 2>" + base + ".err";
  int status = std::system(cmd.c_str());
  outcome o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.out = slurp(base + ".out");
  o.err = slurp(base + ".err");
  for (auto ext : {".sh", ".out", ".err"})
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
  BOOST_CHECK_EQUAL(run("--workers -1 run").exit_code, 2);
  BOOST_CHECK(has(run("--workers 1025 run").err, "from 0 (one per core) to 1024"));
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

BOOST_AUTO_TEST_CASE(map_reads_pipes_and_fifos_once) {
  const std::string want = "1.0\n2.0\n3.0\n";
  // A pipe as /dev/stdin, and process substitution (/dev/fd/N).
  auto piped = run_bash("printf '[1]\\n[4]\\n[9]\\n' | pyactor --workers 1 map math.sqrt --from /dev/stdin");
  BOOST_CHECK_EQUAL(piped.exit_code, 0);
  BOOST_CHECK_EQUAL(piped.out, want);
  BOOST_CHECK_MESSAGE(has(piped.err, "3 items, 0 failed"), piped.err);
  auto substituted = run_bash("pyactor --workers 1 map math.sqrt --from <(printf '[1]\\n[4]\\n[9]\\n')");
  BOOST_CHECK_EQUAL(substituted.exit_code, 0);
  BOOST_CHECK_EQUAL(substituted.out, want);
  // A named FIFO, written by this test once the CLI has opened it.
  auto fifo = "/tmp/pyactor-cli-fifo-" + std::to_string(::getpid());
  BOOST_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  bool written = false;
  std::thread writer([&] {
    int fd = -1;
    // Opening for writing without blocking fails (ENXIO) until a reader opened it.
    pyactor::test::eventually([&] {
      fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      return fd >= 0;
    }, std::chrono::seconds(60));
    if (fd < 0)
      return;
    ::fcntl(fd, F_SETFL, 0); // blocking writes from here on
    std::string lines = "[1]\n[4]\n[9]\n";
    written = ::write(fd, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size());
    ::close(fd);
  });
  auto named = run("--workers 1 map math.sqrt --from " + fifo);
  writer.join();
  ::unlink(fifo.c_str());
  BOOST_CHECK(written);
  BOOST_CHECK_EQUAL(named.exit_code, 0);
  BOOST_CHECK_EQUAL(named.out, want);
  // A regular file is counted first (a total for the progress) and read once.
  std::string file = "/tmp/pyactor-cli-items-" + std::to_string(::getpid());
  std::ofstream{file} << "[1]\n[4]\n[9]\n";
  auto counted = run("--workers 1 map math.sqrt --from " + file);
  std::remove(file.c_str());
  BOOST_CHECK_EQUAL(counted.out, want);
  BOOST_CHECK_MESSAGE(has(counted.err, "3/3"), counted.err);
}

BOOST_AUTO_TEST_CASE(directories_are_refused_as_inputs) {
  auto from = run("--workers 1 map math.sqrt --from /tmp");
  BOOST_CHECK_EQUAL(from.exit_code, 2);
  BOOST_CHECK_MESSAGE(has(from.err, "--from '/tmp' is a directory"), from.err);
  auto config = run("--config /tmp --workers 1 eval 1");
  BOOST_CHECK_EQUAL(config.exit_code, 2);
  BOOST_CHECK_MESSAGE(has(config.err, "config file '/tmp' is a directory"), config.err);
}

BOOST_AUTO_TEST_CASE(double_dash_ends_the_options_and_workers_0_means_one_per_core) {
  auto dash = run("--workers 1 call builtins.str -- -h");
  BOOST_CHECK_EQUAL(dash.exit_code, 0);
  BOOST_CHECK_EQUAL(dash.out, "'-h'\n");
  auto kw = run("--workers 1 call builtins.repr -- --kw");
  BOOST_CHECK_EQUAL(kw.out, "\"'--kw'\"\n");
  BOOST_CHECK(has(run("--workers 1 call builtins.str -h").out, "usage: pyactor call"));
  BOOST_CHECK(has(run("--workers 1 call builtins.str --frob").err, "put -- before"));
  auto per_core = run("--workers 0 eval 1+1");
  BOOST_CHECK_EQUAL(per_core.exit_code, 0);
  BOOST_CHECK_EQUAL(per_core.out, "2\n");
}

BOOST_AUTO_TEST_CASE(config_values_are_checked_with_the_text_as_written) {
  auto path = "/tmp/pyactor-cli-cfg-" + std::to_string(::getpid()) + ".ini";
  auto check = [&](const std::string& body, const std::string& expected) {
    std::ofstream{path} << "[pyactor]\n" << body << "\n";
    auto o = run("--config " + path + " --workers 1 eval 1");
    std::remove(path.c_str());
    BOOST_CHECK_EQUAL(o.exit_code, 2);
    BOOST_CHECK_MESSAGE(has(o.err, expected), body << " -> " << o.err);
  };
  check("timeout = -5s", "timeout must be a duration from 1ms to 576h (24 days), such as 500ms, "
                         "30s or 5min, got '-5s'");
  check("timeout = 0s", "got '0s'");
  check("timeout = 3000000h", "got '3000000h'");
  check("restart-window = 6000000h", "restart-window must be a duration");
  check("workers = 1\nworkers = 2", ":3: [pyactor] workers is set twice (first on line 2)");
  check("workers = 2.5", "workers must be an integer from 0 to 1024, got '2.5'");
  check("imports = \"json\"", "imports must be a list of double-quoted strings");
  check("cwd = 5", "cwd must be a double-quoted string, got '5'");
  check("threads = true", "threads must be an integer from 0 to 256, got 'true'");
}

BOOST_AUTO_TEST_SUITE_END()
