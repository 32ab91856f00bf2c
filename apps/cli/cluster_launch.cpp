// Processes and pid files of `pyactor up` and `pyactor down`.
#include "cluster_launch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pyactor::cli {

uint64_t start_time_of(pid_t pid) {
  if (pid <= 0)
    return 0;
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text;
  if (!in || !std::getline(in, text))
    return 0;
  // "PID (COMM) STATE PPID ...": COMM may hold spaces and ')', so count
  // fields after the last ')'. STATE is field 3, starttime field 22.
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream fields{text.substr(close + 1)};
  std::string field, state;
  fields >> state;
  if (state == "Z" || state == "X") // exited, not yet reaped: not running
    return 0;
  for (int i = 4; i <= 22 && fields >> field; ++i)
    if (i == 22)
      return std::strtoull(field.c_str(), nullptr, 10);
  return 0;
}

bool is_running(const process_id& p) {
  return p.pid > 0 && p.start_time != 0 && start_time_of(p.pid) == p.start_time;
}

result<pid_file> read_pid_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::bad_request, "cannot read " + path + ": " + std::strerror(errno));
  pid_file f;
  std::string line;
  size_t no = 0;
  auto bad = [&](const std::string& why) {
    return make_error(errc::bad_request,
                      path + ":" + std::to_string(no) + ": not a pid file of `pyactor up` (" + why
                        + "); remove it if no cluster of this config is running");
  };
  while (std::getline(in, line)) {
    ++no;
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream words{line};
    std::string kind;
    words >> kind;
    if (kind == "config") {
      std::getline(words >> std::ws, f.config);
      continue;
    }
    pid_entry e;
    e.role = kind;
    long long pid = 0;
    unsigned long long start = 0;
    if ((kind != "up" && kind != "head" && kind != "node") || !(words >> e.name >> pid >> start)
        || pid <= 0 || pid > INT_MAX || start == 0)
      return bad("expected 'up|head|node NAME PID STARTTIME', got '" + line + "'");
    e.id.pid = static_cast<pid_t>(pid);
    e.id.start_time = start;
    f.entries.push_back(std::move(e));
  }
  if (f.entries.empty() || f.entries.front().role != "up")
    return bad("no 'up' line first");
  return f;
}

namespace {

std::string render(const pid_file& f) {
  std::ostringstream out;
  out << "# written by `pyactor up`: what it started; `pyactor down CONFIG` stops them\n"
      << "config " << f.config << "\n";
  for (auto& e : f.entries)
    out << e.role << " " << e.name << " " << e.id.pid << " " << e.id.start_time << "\n";
  return out.str();
}

/// Writes `f` into a new file beside `path`; returns its name or "".
std::string write_aside(const std::string& path, const pid_file& f) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return {};
  auto text = render(f);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    return {};
  }
  return tmp;
}

} // namespace

bool create_pid_file(const std::string& path, const pid_file& content, int& error_number) {
  auto tmp = write_aside(path, content);
  if (tmp.empty()) {
    error_number = errno;
    return false;
  }
  bool ok = ::link(tmp.c_str(), path.c_str()) == 0; // fails if `path` exists
  error_number = ok ? 0 : errno;
  ::unlink(tmp.c_str());
  return ok;
}

bool write_pid_file(const std::string& path, const pid_file& content) {
  auto tmp = write_aside(path, content);
  if (tmp.empty())
    return false;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::string default_pid_file(const std::string& config) {
  uint32_t hash = 2166136261u; // FNV-1a: two configs of one name in two places differ
  for (unsigned char c : config)
    hash = (hash ^ c) * 16777619u;
  auto slash = config.rfind('/');
  auto stem = config.substr(slash == std::string::npos ? 0 : slash + 1);
  if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".ini") == 0)
    stem.resize(stem.size() - 4);
  for (auto& c : stem)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      c = '_';
  const char* dir = std::getenv("XDG_RUNTIME_DIR");
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", hash);
  return std::string{dir && *dir == '/' ? dir : "/tmp"} + "/pyactor-up-" + stem + "-" + hex
         + ".pid";
}

std::string log_file_of(const std::string& pid_file_path) {
  auto slash = pid_file_path.rfind('/');
  auto dot = pid_file_path.rfind('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return pid_file_path.substr(0, dot) + ".log";
  return pid_file_path + ".log";
}

result<child_process> spawn_child(const std::vector<std::string>& argv) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return make_error(errc::not_running, std::string{"pipe: "} + std::strerror(errno));
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(out[0]);
    ::close(out[1]);
    return make_error(errc::not_running, std::string{"fork: "} + std::strerror(e));
  }
  if (pid == 0) { // the child: async-signal-safe calls only, then exec
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent)
      ::_exit(125); // `up` died before we got here
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::execv(args[0], args.data());
    const char msg[] = "pyactor up: cannot execute the launch command\n";
    (void) !::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid); // also here: no race with a signal sent right after
  ::close(out[1]);
  child_process c;
  c.id.pid = pid;
  c.id.start_time = start_time_of(pid);
  c.output = out[0];
  return c;
}

namespace {

int pidfd_of(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void) pid;
  errno = ENOSYS;
  return -1;
#endif
}

/// Sends `sig` to the process `p` (or to the group it leads) only while
/// it is verifiably the process we started. The start time is checked
/// after taking a pidfd, and a process is signalled through that pidfd, so
/// a pid reused in between is never hit. A group is signalled by number
/// (no pidfd names a group on older kernels): its id stays taken while its
/// verified leader lives, which leaves only the instant after the check.
bool signal_checked(const process_id& p, bool group, int sig) {
  int fd = pidfd_of(p.pid);
  bool ok = false;
  if (is_running(p)) {
#ifdef SYS_pidfd_send_signal
    if (!group && fd >= 0)
      ok = ::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0;
    else
#endif
      ok = ::kill(group ? -p.pid : p.pid, sig) == 0 || (group && ::kill(p.pid, sig) == 0);
  }
  if (fd >= 0)
    ::close(fd);
  return ok;
}

} // namespace

bool signal_group(const process_id& p, int sig) {
  return signal_checked(p, true, sig);
}

bool signal_process(const process_id& p, int sig) {
  return signal_checked(p, false, sig);
}

bool wait_gone(const process_id& p, int ms) {
  int fd = pidfd_of(p.pid);
  if (fd >= 0) {
    if (!is_running(p)) {
      ::close(fd);
      return true;
    }
    pollfd pfd{fd, POLLIN, 0};
    int rc;
    do
      rc = ::poll(&pfd, 1, ms);
    while (rc < 0 && errno == EINTR);
    ::close(fd);
    // Readable when it exited; a zombie of another parent counts as gone.
    return !is_running(p);
  }
  // No pidfd (old kernel): poll /proc, as nothing else tells a non-parent.
  for (int waited = 0; is_running(p); waited += 20) {
    if (waited >= ms)
      return false;
    ::usleep(20000);
  }
  return true;
}

std::string shell_quote(const std::string& text) {
  if (!text.empty()
      && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "-_./:=@,+")
           == std::string::npos)
    return text;
  std::string quoted = "'";
  for (char c : text)
    quoted += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return quoted + "'";
}

std::string self_executable() {
  char buf[PATH_MAX];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return "pyactor";
  return std::string(buf, static_cast<size_t>(n));
}

} // namespace pyactor::cli
