#include "python_check.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace pyactor::client {

namespace {

constexpr const char* probe_tag = "pyactor-python-probe";

result<std::string> fail(const std::string& python, const std::string& what) {
  return make_error(errc::bad_request, "python '" + python + "' " + what);
}

/// The first line of `text`, shortened for a message.
std::string first_line(const std::string& text) {
  auto line = text.substr(0, text.find('\n'));
  if (line.size() > 200)
    line = line.substr(0, 200) + "...";
  return line;
}

} // namespace

result<std::string> check_python(const std::string& python, const std::string& expected_minor) {
  struct stat st {};
  if (python.empty())
    return make_error(errc::bad_request, "python: the path of the workers' Python is empty");
  if (::stat(python.c_str(), &st) != 0)
    return fail(python, std::string{"cannot be used: "} + std::strerror(errno));
  if (S_ISDIR(st.st_mode))
    return fail(python, "is a directory, not a Python executable (a venv's is DIR/bin/python)");
  if (::access(python.c_str(), X_OK) != 0)
    return fail(python, "is not executable");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return fail(python, std::string{"cannot be checked: pipe: "} + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  std::string code = std::string{"import sys; print('"} + probe_tag
                     + "', '%d.%d.%d' % sys.version_info[:3])";
  std::vector<std::string> args{python, "-E", "-S", "-c", code};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, python.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    return fail(python, std::string{"cannot be started: "} + std::strerror(rc));
  }
  // Read its output until it closes it, for at most 10 s.
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      timed_out = n == 0;
      break;
    }
    char buf[4096];
    ssize_t got = ::read(out[0], buf, sizeof(buf));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    if (text.size() < 64 * 1024)
      text.append(buf, static_cast<size_t>(got));
  }
  ::close(out[0]);
  if (timed_out)
    ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  if (timed_out)
    return fail(python, "did not answer within 10 s when run with -c: it is not a Python "
                        "interpreter pyactor can use");
  auto at = text.find(probe_tag);
  if (at == std::string::npos || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFEXITED(status) ? "exited with code " + std::to_string(WEXITSTATUS(status))
                                        : "was killed by signal " + std::to_string(WTERMSIG(status));
    return fail(python, "is not a Python interpreter pyactor can use: run with -E -S -c it "
                          + how + (text.empty() ? ", printing nothing" : ", printing: "
                                                                            + first_line(text)));
  }
  auto version = first_line(text.substr(at + std::strlen(probe_tag) + 1));
  auto minor_end = version.find('.', version.find('.') + 1);
  auto minor = version.substr(0, minor_end);
  if (minor != expected_minor)
    return fail(python, "is Python " + version + ", but pyactor's worker module is built for "
                          "Python " + expected_minor + ": use a Python " + expected_minor
                          + " (a venv made with python" + expected_minor
                          + " -m venv --system-site-packages DIR)");
  return version;
}

} // namespace pyactor::client
