#include "node_setup.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <csignal>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace pyactor::erlbridge {

namespace {

result<std::string> first_line(const std::string& path, const std::string& what) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::bad_request, "cannot read the cookie from " + what + " '" + path
                                           + "': " + std::strerror(errno)
                                           + " (pass --cookie or --cookie-file)");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\n'))
    line.pop_back();
  if (line.empty())
    return make_error(errc::bad_request, "the cookie file '" + path + "' is empty");
  return line;
}

/// Runs `epmd -daemon`; the daemon forks, so the child exits at once.
bool start_epmd() {
  if (std::getenv("ERL_EPMD_ADDRESS") == nullptr)
    ::setenv("ERL_EPMD_ADDRESS", "127.0.0.1", 0);
  char arg0[] = "epmd";
  char arg1[] = "-daemon";
  char* argv[] = {arg0, arg1, nullptr};
  // The daemon must not inherit the bridge's blocked SIGTERM.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  auto rc = ::posix_spawnp(&pid, "epmd", nullptr, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

} // namespace

result<std::string> read_cookie(const gateway_options& opts) {
  if (!opts.cookie.empty())
    return opts.cookie;
  if (!opts.cookie_file.empty())
    return first_line(opts.cookie_file, "--cookie-file");
  if (auto env = std::getenv("PYACTOR_COOKIE"); env != nullptr && *env != '\0')
    return std::string{env};
  auto home = std::getenv("HOME");
  if (home == nullptr || *home == '\0')
    return make_error(errc::bad_request, "no cookie: pass --cookie or --cookie-file ($HOME is unset)");
  return first_line(std::string{home} + "/.erlang.cookie", "the default cookie file");
}

std::string default_host(const gateway_options& opts) {
  if (opts.long_names)
    return opts.listen_address;
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0)
    return "localhost";
  std::string host{buf};
  if (auto dot = host.find('.'); dot != std::string::npos)
    host.resize(dot);
  return host;
}

result<int> publish_with_epmd(ei_cnode& ec, int port, const gateway_options& opts,
                              const std::string& node_name) {
  auto tmo = static_cast<unsigned>(opts.io_timeout.count());
  auto fd = ei_publish_tmo(&ec, port, tmo);
  if (fd >= 0)
    return fd;
  if (!start_epmd())
    return make_error(errc::not_running, "cannot register " + node_name
                                           + ": epmd does not answer and `epmd -daemon` failed "
                                             "(is erlang-base installed?)");
  // epmd is coming up: try for about two seconds.
  for (int attempt = 0; attempt < 40; ++attempt) {
    fd = ei_publish_tmo(&ec, port, tmo);
    if (fd >= 0)
      return fd;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return make_error(errc::bad_request,
                    "cannot register " + node_name + " with epmd: the name is in use by "
                      "another node, or epmd refused it (try another --sname/--name)");
}

} // namespace pyactor::erlbridge
