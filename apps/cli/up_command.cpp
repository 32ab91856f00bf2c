// `pyactor up CONFIG [--detach]` and `pyactor down CONFIG`: a whole cluster
// (a head and its nodes) from one config file.
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>

#include "cli.hpp"
#include "cluster_launch.hpp"
#include "pyactor/cluster_config.hpp"

namespace pyactor::cli {

namespace {

const char* up_help =
  "usage: pyactor up CONFIG [--detach]\n"
  "  Starts the head of CONFIG's [cluster] section, then each [node.NAME] with its\n"
  "  launch command; waits until every node joined (join-timeout), prints the\n"
  "  cluster, and stays in the foreground (Ctrl-C or SIGTERM stops the nodes and the\n"
  "  head) or, with --detach, runs on in the background (its log beside the pid\n"
  "  file). `pyactor down CONFIG` stops it. Examples: config/cluster-local.ini,\n"
  "  config/cluster-example.ini.\n";

const char* down_help = "usage: pyactor down CONFIG\n"
                        "  Stops the nodes and the head that `pyactor up CONFIG` started.\n";

using steady = std::chrono::steady_clock;

/// A process `up` started (the head or a node's launch command).
struct member {
  std::string role; // "head" or "node"
  std::string name;
  child_process proc;
  std::string partial;   ///< output not yet ended by a newline
  std::string last_line; ///< the last non-empty line it printed
  bool exited = false;
  int status = 0;
  bool joined = false;
  bool listening = false; ///< the head said it listens
};

std::string exit_text(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " ("
           + strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

std::string seconds_text(std::chrono::milliseconds ms) {
  auto s = std::to_string(ms.count() / 1000);
  if (ms.count() % 1000 != 0)
    s += "." + std::to_string(ms.count() % 1000 / 100);
  return s + " s";
}

/// Expands a checked launch template.
std::string expand(const std::string& tpl, const std::map<std::string, std::string>& values) {
  std::string out;
  for (size_t i = 0; i < tpl.size(); ++i) {
    if (tpl.compare(i, 2, "{{") == 0 || tpl.compare(i, 2, "}}") == 0) {
      out += tpl[i++];
    } else if (tpl[i] == '{') {
      auto close = tpl.find('}', i);
      out += values.at(tpl.substr(i + 1, close - i - 1));
      i = close;
    } else {
      out += tpl[i];
    }
  }
  return out;
}

/// Where `up` itself reaches the head.
cluster::endpoint local_head(const cluster::cluster_config& cfg) {
  auto ep = cfg.listen;
  if (ep.host == "0.0.0.0")
    ep.host = "127.0.0.1";
  else if (ep.host == "::" || ep.host == "[::]")
    ep.host = "::1";
  return ep;
}

/// What `up` started, and the loop that watches it.
class cluster_launcher {
public:
  cluster_launcher(cluster::cluster_config cfg, std::string pid_path)
    : cfg_(std::move(cfg)), pid_path_(std::move(pid_path)) {
  }

  /// Runs `up`; returns the exit code. `ready_fd` (detached) gets the code
  /// as one byte once the cluster is up or failed.
  int run(int ready_fd);

private:
  int start_and_wait();
  bool start_head();
  bool start_node(const cluster::node_spec& node);
  std::string launch_command(const cluster::node_spec& node) const;
  void pump(int timeout_ms);
  void read_output(member& m);
  void reap();
  void save_pid_file();
  void stop_all();
  void stop_role(const std::string& role);
  member* head();
  bool wait_for_head(steady::time_point deadline);
  int wait_for_joins(steady::time_point start);
  void add_member(const std::string& role, const std::string& name, const child_process& c) {
    member m;
    m.role = role;
    m.name = name;
    m.proc = c;
    members_.push_back(std::move(m));
  }
  void log(const std::string& line) {
    std::cerr << "[up] " << line << std::endl;
  }

  cluster::cluster_config cfg_;
  std::string pid_path_;
  int signals_ = -1;
  int stop_signal_ = 0;
  bool stopping_ = false;
  std::vector<member> members_;
  std::unique_ptr<cluster::client> client_;
};

member* cluster_launcher::head() {
  for (auto& m : members_)
    if (m.role == "head")
      return &m;
  return nullptr;
}

void cluster_launcher::save_pid_file() {
  pid_file f;
  f.config = cfg_.path;
  f.entries.push_back({"up", "-", {::getpid(), start_time_of(::getpid())}});
  for (auto& m : members_)
    if (!m.exited)
      f.entries.push_back({m.role, m.name, m.proc.id});
  if (!write_pid_file(pid_path_, f))
    log("cannot write the pid file " + pid_path_ + ": " + std::strerror(errno));
}

void cluster_launcher::read_output(member& m) {
  char buf[4096];
  auto n = ::read(m.proc.output, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0) { // EOF: everything that held the pipe is gone
    if (!m.partial.empty())
      m.last_line = m.partial;
    if (!m.partial.empty())
      std::cerr << m.name << " | " << m.partial << std::endl;
    m.partial.clear();
    ::close(m.proc.output);
    m.proc.output = -1;
    return;
  }
  m.partial.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = m.partial.find('\n')) != std::string::npos) {
    auto line = m.partial.substr(0, nl);
    m.partial.erase(0, nl + 1);
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    m.last_line = line;
    if (m.role == "head" && line.find("[head] listening on ") != std::string::npos)
      m.listening = true;
    std::cerr << m.name << " | " << line << "\n";
  }
  if (m.partial.size() > 65536) { // a runaway line: keep its end only
    m.partial.erase(0, m.partial.size() - 4096);
  }
  std::cerr.flush();
}

void cluster_launcher::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& m : members_) {
      if (m.proc.id.pid != pid)
        continue;
      m.exited = true;
      m.status = status;
      if (!stopping_) {
        // Let its last words arrive first: its output pipe may still hold them.
        while (m.proc.output >= 0) {
          pollfd p{m.proc.output, POLLIN, 0};
          if (::poll(&p, 1, 0) <= 0)
            break;
          read_output(m);
        }
        log(m.role + " " + m.name + " (pid " + std::to_string(pid) + ") " + exit_text(status)
            + (m.last_line.empty() ? "" : "; its last line: " + m.last_line));
        save_pid_file();
      }
    }
  }
}

void cluster_launcher::pump(int timeout_ms) {
  std::vector<pollfd> fds{{signals_, POLLIN, 0}};
  std::vector<member*> owners{nullptr};
  for (auto& m : members_)
    if (m.proc.output >= 0) {
      fds.push_back({m.proc.output, POLLIN, 0});
      owners.push_back(&m);
    }
  int rc = ::poll(fds.data(), fds.size(), timeout_ms);
  if (rc <= 0)
    return;
  for (size_t i = 1; i < fds.size(); ++i)
    if (fds[i].revents != 0)
      read_output(*owners[i]);
  if (fds[0].revents & POLLIN) {
    signalfd_siginfo info{};
    while (::read(signals_, &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGCHLD)
        reap();
      else if (stop_signal_ == 0)
        stop_signal_ = static_cast<int>(info.ssi_signo);
    }
  }
}

bool cluster_launcher::start_head() {
  std::vector<std::string> argv{self_executable(), "--config", cfg_.path, "--workers",
                                std::to_string(cfg_.head_workers), "head", "--listen",
                                cfg_.listen.to_string()};
  if (cfg_.tls.enabled())
    argv.insert(argv.end(), {"--ca", cfg_.tls.ca, "--cert", cfg_.tls.cert, "--key", cfg_.tls.key});
  if (cfg_.tls.insecure)
    argv.push_back("--insecure");
  auto c = spawn_child(argv);
  if (!c) {
    log("cannot start the head: " + c.error().message);
    return false;
  }
  add_member("head", "head", c.value());
  log("head: pid " + std::to_string(c.value().id.pid) + ", listening on "
      + cfg_.listen.to_string());
  save_pid_file();
  return true;
}

std::string cluster_launcher::launch_command(const cluster::node_spec& node) const {
  std::map<std::string, std::string> values{
    {"pyactor", shell_quote(self_executable())}, {"head", shell_quote(cfg_.head_address.to_string())},
    {"name", node.name}, {"workers", std::to_string(node.workers)}, {"host", shell_quote(node.host)}};
  if (!node.launch.empty())
    return expand(node.launch, values);
  // The default: the node on this machine, with the config's pool options and TLS.
  auto cmd = values["pyactor"] + " --config " + shell_quote(cfg_.path) + " node --join "
             + values["head"] + " --name " + node.name + " --workers " + values["workers"];
  if (cfg_.tls.enabled())
    cmd += " --ca " + shell_quote(cfg_.tls.ca) + " --cert " + shell_quote(cfg_.tls.cert)
           + " --key " + shell_quote(cfg_.tls.key);
  if (cfg_.tls.insecure)
    cmd += " --insecure";
  return cmd;
}

bool cluster_launcher::start_node(const cluster::node_spec& node) {
  auto cmd = launch_command(node);
  // bash execs the last command of `-c` (dash forks it): the pid we
  // started is the node, ssh or `ip netns exec`, which keeps our SIGTERM
  // on death (PR_SET_PDEATHSIG) and gets the stop signal first.
  auto c = spawn_child({::access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh", "-c", cmd});
  if (!c) {
    log("cannot start node " + node.name + ": " + c.error().message);
    return false;
  }
  add_member("node", node.name, c.value());
  log("node " + node.name + ": pid " + std::to_string(c.value().id.pid) + ": " + cmd);
  save_pid_file();
  return true;
}

bool cluster_launcher::wait_for_head(steady::time_point deadline) {
  // The head prints "listening on" once its port is open: wait for that line.
  while (!head()->listening && !head()->exited && stop_signal_ == 0
         && steady::now() < deadline)
    pump(static_cast<int>(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count())));
  if (stop_signal_ != 0)
    return false;
  if (!head()->listening) {
    std::cerr << "pyactor up: the head "
              << (head()->exited ? exit_text(head()->status)
                                 : "did not listen within join-timeout "
                                     + seconds_text(cfg_.join_timeout))
              << (head()->last_line.empty() ? "" : "; its last line: " + head()->last_line)
              << "\n";
    return false;
  }
  cluster::network_options net;
  net.tls = cfg_.tls;
  // The head listens, so a failed connection is retried until join-timeout:
  // under load, CAF 0.17's TLS and BASP handshakes can miss the connection
  // timeout once (seen once in cluster.ssh at load 9).
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    auto c = cluster::client::connect(local_head(cfg_), net,
                                      std::max(left, std::chrono::milliseconds(1000)));
    if (c) {
      client_ = std::move(c).value();
      return true;
    }
    if (stop_signal_ != 0 || head()->exited || steady::now() + std::chrono::milliseconds(250) >= deadline) {
      std::cerr << "pyactor up: cannot connect to the head at " << local_head(cfg_).to_string()
                << ": " << c.error().to_string() << "\n";
      return false;
    }
    log("connecting to the head at " + local_head(cfg_).to_string() + " failed ("
        + c.error().to_string() + "); retrying");
    pump(250);
  }
}

int cluster_launcher::wait_for_joins(steady::time_point start) {
  auto deadline = start + cfg_.join_timeout;
  std::vector<std::string> strangers; // nodes that joined under other names
  for (;;) {
    pump(250);
    if (stop_signal_ != 0)
      return 1;
    if (head()->exited) {
      std::cerr << "pyactor up: the head " << exit_text(head()->status)
                << (head()->last_line.empty() ? "" : "; its last line: " + head()->last_line)
                << "\n";
      return usage;
    }
    if (auto nodes = client_->status()) {
      strangers.clear();
      for (auto& info : nodes.value()) {
        bool known = info.name == "head";
        for (auto& m : members_)
          if (m.role == "node" && m.name == info.name) {
            known = true;
            m.joined = m.joined || info.state == "up";
          }
        if (!known)
          strangers.push_back(info.name);
      }
    }
    size_t waiting = 0, failed = 0;
    for (auto& m : members_) {
      if (m.role != "node" || m.joined)
        continue;
      ++waiting;
      // A launch that exits with 0 may have started the node in the
      // background: wait on for it. Any other end is a failure.
      if (m.exited && !(WIFEXITED(m.status) && WEXITSTATUS(m.status) == 0))
        ++failed;
    }
    if (waiting == 0)
      return ok;
    bool timed_out = steady::now() >= deadline;
    if (!timed_out && failed < waiting)
      continue;
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
    std::cerr << "pyactor up: " << waiting << " of " << cfg_.nodes.size() << " nodes did not join"
              << (timed_out ? " within join-timeout " + seconds_text(cfg_.join_timeout)
                            : " (their launch commands failed, after " + seconds_text(took) + ")")
              << ":\n";
    for (auto& m : members_) {
      if (m.role != "node" || m.joined)
        continue;
      std::cerr << "  node " << m.name << ": ";
      if (m.exited)
        std::cerr << "its launch command " << exit_text(m.status);
      else
        std::cerr << "its launch command (pid " << m.proc.id.pid << ") still runs but the node "
                  << "did not join " << cfg_.head_address.to_string();
      std::cerr << (m.last_line.empty() ? "; it printed nothing"
                                        : "; its last line: " + m.last_line)
                << "\n";
    }
    if (!strangers.empty()) {
      std::cerr << "  (nodes joined under other names:";
      for (auto& s : strangers)
        std::cerr << " " << s;
      std::cerr << "; does each launch pass --name {name}?)\n";
    }
    return usage;
  }
}

int cluster_launcher::start_and_wait() {
  auto start = steady::now();
  if (!start_head() || !wait_for_head(start + cfg_.join_timeout))
    return stop_signal_ != 0 ? 1 : usage;
  for (auto& node : cfg_.nodes)
    if (!start_node(node))
      return usage;
  return wait_for_joins(start);
}

void cluster_launcher::stop_role(const std::string& role) {
  auto running = [&] {
    for (auto& m : members_)
      if (m.role == role && !m.exited)
        return true;
    return false;
  };
  // To the process group: what a launch command's shell started gets it too.
  // A group whose leader we reaped is left alone: its number may be reused.
  for (auto& m : members_)
    if (m.role == role && !m.exited)
      ::kill(-m.proc.id.pid, SIGTERM);
  auto deadline = steady::now() + std::chrono::seconds(20);
  while (running() && steady::now() < deadline)
    pump(100);
  for (auto& m : members_)
    if (m.role == role && !m.exited) {
      log(role + " " + m.name + " (pid " + std::to_string(m.proc.id.pid)
          + ") did not stop within 20 s of SIGTERM: SIGKILL");
      ::kill(-m.proc.id.pid, SIGKILL);
    }
  while (running())
    pump(100);
}

void cluster_launcher::stop_all() {
  std::string what; // what runs now and gets stopped
  for (auto& m : members_)
    if (!m.exited)
      what += (what.empty() ? "" : ", ") + (m.role == "head" ? "the head" : "node " + m.name)
              + " (pid " + std::to_string(m.proc.id.pid) + ")";
  stopping_ = true;
  client_.reset();
  stop_role("node");
  stop_role("head");
  for (auto& m : members_) // the last output of each
    while (m.proc.output >= 0) {
      pollfd p{m.proc.output, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0)
        break;
      read_output(m);
    }
  if (!what.empty())
    log("stopped " + what);
  if (auto f = read_pid_file(pid_path_);
      f && !f.value().entries.empty() && f.value().entries.front().id.pid == ::getpid())
    ::unlink(pid_path_.c_str());
}

int cluster_launcher::run(int ready_fd) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD})
    sigaddset(&set, sig);
  signals_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  save_pid_file(); // now with our own pid (detached: the background process)
  auto report = [&](int code) {
    if (ready_fd >= 0) {
      unsigned char byte = static_cast<unsigned char>(code);
      (void) !::write(ready_fd, &byte, 1);
      ::close(ready_fd);
      ready_fd = -1;
    }
  };
  int code = start_and_wait();
  if (code != ok) {
    if (stop_signal_ != 0)
      std::cerr << "pyactor up: " << strsignal(stop_signal_) << " while starting: stopping\n";
    else
      std::cerr << "pyactor up: stopping the head and the nodes that started\n";
    stop_all();
    report(code);
    return code;
  }
  std::cout << "\n";
  print_cluster_status(*client_);
  client_.reset();
  std::cout << "\npyactor up: the cluster of " << cfg_.path << " is up: head pid "
            << head()->proc.id.pid << ", " << cfg_.nodes.size() << " nodes; pid file "
            << pid_path_ << "\n";
  if (ready_fd >= 0) {
    auto log_path = log_file_of(pid_path_);
    std::cout << "detached (pid " << ::getpid() << "); log: " << log_path
              << "; stop it with `pyactor down " << cfg_.path << "`" << std::endl;
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close(fd);
  } else {
    std::cout << "Ctrl-C or SIGTERM (or `pyactor down " << cfg_.path
              << "`) stops the nodes and the head" << std::endl;
  }
  report(ok);
  while (stop_signal_ == 0 && !head()->exited)
    pump(-1);
  code = ok;
  if (stop_signal_ != 0) {
    log(std::string{strsignal(stop_signal_)} + ": stopping the nodes, then the head");
  } else {
    log("the head " + exit_text(head()->status) + ": stopping the nodes");
    code = call_failed;
  }
  stop_all();
  return code;
}

std::string pid_path_of(const cluster::cluster_config& cfg) {
  return cfg.pid_file.empty() ? default_pid_file(cfg.path) : cfg.pid_file;
}

/// Reads CONFIG (the command's one operand) or prints why not.
int read_config_arg(const invocation& inv, const char* command, const char* help,
                    cluster::cluster_config& cfg, bool& detach) {
  std::vector<std::string> operands;
  for (size_t i = 0; i < inv.args.size(); ++i) {
    auto& a = inv.args[i];
    if (i < inv.operands_from && a == "--detach" && std::string{command} == "up")
      detach = true;
    else if (i < inv.operands_from && a.size() > 1 && a[0] == '-')
      return usage_error(std::string{command} + ": unknown option " + a, help);
    else
      operands.push_back(a);
  }
  if (operands.size() != 1)
    return usage_error(std::string{command} + " expects one CONFIG file, got "
                         + std::to_string(operands.size()) + " arguments",
                       help);
  auto c = cluster::read_cluster_config(operands.front());
  if (!c) {
    std::cerr << "pyactor " << command << ": " << c.error().message << "\n";
    return usage;
  }
  cfg = std::move(c).value();
  return ok;
}

/// Refuses a second `up`; removes a stale pid file. Returns ok to go on.
int check_not_running(const std::string& path, const std::string& config) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return ok;
  auto f = read_pid_file(path);
  if (!f) {
    std::cerr << "pyactor up: " << f.error().message << "\n";
    return usage;
  }
  auto& up = f.value().entries.front();
  if (is_running(up.id)) {
    std::cerr << "pyactor up: the cluster of " << config << " is already running (pid "
              << up.id.pid << ", pid file " << path << "); `pyactor down " << config
              << "` stops it\n";
    return usage;
  }
  for (auto& e : f.value().entries)
    if (is_running(e.id)) {
      std::cerr << "pyactor up: the `up` of " << config << " (pid " << up.id.pid
                << ") is gone but its " << e.role << " " << e.name << " (pid " << e.id.pid
                << ") still runs; `pyactor down " << config << "` stops it\n";
      return usage;
    }
  std::cerr << "pyactor up: removing the stale pid file " << path << " (pid " << up.id.pid
            << " is gone)\n";
  ::unlink(path.c_str());
  return ok;
}

} // namespace

int run_up(const invocation& inv) {
  if (wants_help(inv, up_help))
    return ok;
  cluster::cluster_config cfg;
  bool detach = false;
  if (int code = read_config_arg(inv, "up", up_help, cfg, detach); code != ok)
    return code;
  // Before any thread starts: the signals are read from a signalfd.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD})
    sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  auto path = pid_path_of(cfg);
  if (int code = check_not_running(path, cfg.path); code != ok)
    return code;
  pid_file mine;
  mine.config = cfg.path;
  mine.entries.push_back({"up", "-", {::getpid(), start_time_of(::getpid())}});
  int err = 0;
  if (!create_pid_file(path, mine, err)) {
    std::cerr << "pyactor up: cannot create the pid file " << path << ": "
              << (err == EEXIST ? "another `up` of this config just created it"
                                : std::strerror(err))
              << "\n";
    return usage;
  }
  int ready_fd = -1;
  if (detach) {
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) {
      std::cerr << "pyactor up: pipe: " << std::strerror(errno) << "\n";
      ::unlink(path.c_str());
      return usage;
    }
    std::cout.flush();
    std::cerr.flush();
    pid_t pid = ::fork();
    if (pid < 0) {
      std::cerr << "pyactor up: fork: " << std::strerror(errno) << "\n";
      ::unlink(path.c_str());
      return usage;
    }
    if (pid > 0) { // the caller: wait for the background process's verdict
      ::close(ready[1]);
      // Ctrl-C while it starts stops the background process (it left our
      // terminal's process group), which then reports as usual.
      sigset_t stops;
      sigemptyset(&stops);
      for (int sig : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&stops, sig);
      int stop_fd = ::signalfd(-1, &stops, SFD_CLOEXEC);
      unsigned char code = 0;
      ssize_t n = -1;
      for (;;) {
        pollfd fds[2] = {{ready[0], POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(fds, stop_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
          break;
        if (stop_fd >= 0 && (fds[1].revents & POLLIN)) {
          signalfd_siginfo info{};
          (void) !::read(stop_fd, &info, sizeof(info));
          ::kill(pid, SIGTERM); // our own child, not yet reaped: its pid is still its own
        }
        if (fds[0].revents != 0) {
          do
            n = ::read(ready[0], &code, 1);
          while (n < 0 && errno == EINTR);
          break;
        }
      }
      if (n != 1) {
        std::cerr << "pyactor up: the background process (pid " << pid
                  << ") died while starting; see " << log_file_of(path) << "\n";
        return call_failed;
      }
      return code;
    }
    ::close(ready[0]);
    ready_fd = ready[1];
    ::setsid(); // no terminal: Ctrl-C and hangups of the caller's shell pass it by
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::close(devnull);
    }
  }
  cluster_launcher launcher{std::move(cfg), path};
  return launcher.run(ready_fd);
}

int run_down(const invocation& inv) {
  if (wants_help(inv, down_help))
    return ok;
  cluster::cluster_config cfg;
  bool detach = false;
  if (int code = read_config_arg(inv, "down", down_help, cfg, detach); code != ok)
    return code;
  auto path = pid_path_of(cfg);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    std::cerr << "pyactor down: no cluster of " << cfg.path << " is running: no pid file "
              << path << " (`pyactor up` writes it)\n";
    return usage;
  }
  auto f = read_pid_file(path);
  if (!f) {
    std::cerr << "pyactor down: " << f.error().message << "\n";
    return usage;
  }
  auto entries = f.value().entries;
  std::vector<bool> was_running;
  bool any = false;
  for (auto& e : entries) {
    was_running.push_back(is_running(e.id));
    any = any || was_running.back();
  }
  if (!any) {
    ::unlink(path.c_str());
    std::cerr << "pyactor down: no cluster of " << cfg.path << " is running: the pid file "
              << path << " was stale (pid " << entries.front().id.pid
              << " is gone); removed it\n";
    return usage;
  }
  std::vector<std::string> outcome(entries.size());
  // The `up` process first: it stops its nodes, then its head.
  auto& up = entries.front();
  if (was_running[0]) {
    signal_process(up.id, SIGTERM);
    if (!wait_gone(up.id, 60000)) {
      signal_process(up.id, SIGKILL);
      wait_gone(up.id, 5000);
      outcome[0] = "killed (did not stop within 60 s of SIGTERM)";
    }
  }
  // Whatever is left (an `up` killed with SIGKILL leaves its children).
  for (size_t i = 1; i < entries.size(); ++i) {
    auto& e = entries[i];
    if (!is_running(e.id))
      continue;
    signal_group(e.id, SIGTERM);
    if (!wait_gone(e.id, 20000)) {
      signal_group(e.id, SIGKILL);
      wait_gone(e.id, 5000);
      outcome[i] = "killed (did not stop within 20 s of SIGTERM)";
    }
  }
  int code = ok;
  std::cout << "pyactor down: " << cfg.path << " (pid file " << path << "):\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    std::string what = e.role == "up" ? "up" : e.role == "head" ? "head" : "node " + e.name;
    if (is_running(e.id)) {
      outcome[i] = "STILL RUNNING";
      code = call_failed;
    } else if (outcome[i].empty()) {
      outcome[i] = was_running[i] ? "stopped" : "was not running";
    }
    std::cout << "  " << what << " (pid " << e.id.pid << "): " << outcome[i] << "\n";
  }
  // Remove the pid file unless `up` did, or a new `up` wrote its own.
  if (auto now = read_pid_file(path); code == ok && now
      && now.value().entries.front().id.pid == up.id.pid
      && now.value().entries.front().id.start_time == up.id.start_time)
    ::unlink(path.c_str());
  return code;
}

} // namespace pyactor::cli
