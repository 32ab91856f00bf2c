#include "actors/worker_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <linux/sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "worker/protocol.hpp"
#include "worker/python_boot.h"

extern char** environ;

namespace pyactor::actors {

namespace {

/// Socket buffer size asked for each end of a worker's channel.
constexpr int channel_buffer_bytes = 2 * 1024 * 1024;

/// Child-side descriptors are moved above this number first, so the dup2
/// calls onto 1, 2 and 3 in the child can never clobber one another.
constexpr int high_fd_floor = 10;

/// The descriptor number pyactor-worker reads its requests from.
constexpr int child_channel_fd = 3;

/// The descriptor number pyactor-worker writes its replies to.
constexpr int child_reply_fd = 4;

/// Pipe size asked for the replies (best effort; without privileges the
/// kernel allows up to /proc/sys/fs/pipe-max-size, 1 MiB by default).
constexpr int reply_pipe_bytes = 2 * 1024 * 1024;

std::string errno_text(int err) {
  return std::strerror(err);
}

int dup_high(int fd) {
  int high = fcntl(fd, F_DUPFD_CLOEXEC, high_fd_floor);
  ::close(fd);
  return high;
}

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/// Splits a pipe's bytes into lines for the log.
struct line_splitter {
  std::string pending;
  std::string last_line;

  template <class Emit>
  void feed(const char* data, size_t size, Emit&& emit) {
    pending.append(data, size);
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      last_line = pending.substr(start, nl - start);
      emit(last_line);
    }
    pending.erase(0, start);
    if (pending.size() > 64 * 1024) { // an endless line is logged in pieces
      last_line = std::move(pending);
      pending.clear();
      emit(last_line);
    }
  }

  template <class Emit>
  void finish(Emit&& emit) {
    if (!pending.empty()) {
      last_line = std::move(pending);
      pending.clear();
      emit(last_line);
    }
  }
};

} // namespace

namespace {

/// Signals the process behind `pid_fd` (never a recycled pid). glibc 2.36's
/// <sys/pidfd.h> lacks C linkage for C++, hence the raw system call.
int send_signal(int pid_fd, int sig, siginfo_t* info = nullptr) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pid_fd, sig, info, 0u));
}

/// What the child reports on its error pipe when it cannot exec.
struct child_failure {
  int stage; ///< 1: chdir, 2: exec, 3: descriptor setup
  int err;
};

/// Everything the child needs, prepared before the clone: the child may only
/// make async-signal-safe calls (no allocation) until it execs.
struct child_plan {
  const char* executable;
  char** argv;
  char** envp;
  const char* cwd; ///< null keeps the node's
  int channel;
  int reply;
  int out;
  int err;
  int report; ///< write end of the error pipe (close-on-exec)
  bool die_with_node; ///< PR_SET_PDEATHSIG, as the pyactor-worker launcher sets it
};

[[noreturn]] void fail_child(const child_plan& plan, int stage) {
  child_failure f{stage, errno};
  [[maybe_unused]] auto n = ::write(plan.report, &f, sizeof(f));
  ::_exit(127);
}

/// Runs in the cloned child: sets up descriptors, signals, process group
/// and working directory, then execs.
[[noreturn]] void exec_child(const child_plan& plan) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    ::sigaction(sig, &dfl, nullptr); // fails harmlessly for KILL, STOP and glibc's own
  ::setpgid(0, 0); // a Ctrl-C at the terminal is the node's to handle
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(plan.out, 1) < 0
      || ::dup2(plan.err, 2) < 0 || ::dup2(plan.channel, child_channel_fd) < 0
      || ::dup2(plan.reply, child_reply_fd) < 0)
    fail_child(plan, 3);
  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0)
    fail_child(plan, 1);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (plan.die_with_node)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // kept across execve
  ::execve(plan.executable, plan.argv, plan.envp);
  fail_child(plan, 2);
}

/// Clones a child with no exit signal and a pidfd; returns its pid (0 in the
/// child, -1 with errno on failure).
pid_t clone_with_pidfd(int* pid_fd) {
  clone_args args;
  std::memset(&args, 0, sizeof(args));
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uintptr_t>(pid_fd);
  args.exit_signal = 0; // no SIGCHLD to the host (an exec makes it SIGCHLD again)
  long pid = ::syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0 && errno == ENOSYS) // clone3 filtered (older seccomp profiles): plain clone
    pid = ::syscall(SYS_clone, CLONE_PIDFD, nullptr, pid_fd, nullptr, nullptr);
  return static_cast<pid_t>(pid);
}

/// The exit status the kernel keeps on a pidfd once its process is reaped
/// (PIDFD_GET_INFO, Linux 6.13+; the first 64 bytes of `struct pidfd_info`).
struct pidfd_exit_info {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t ids[11]; // pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid
  int32_t exit_code; ///< a wait status
};
constexpr unsigned long pidfd_get_info = _IOWR(0xFF, 11, pidfd_exit_info);
constexpr uint64_t pidfd_info_exit = uint64_t{1} << 3;

/// The wait status of a process someone else reaped, if the kernel kept it.
bool exit_status_from_pidfd(int pid_fd, int& status) {
  pidfd_exit_info info;
  std::memset(&info, 0, sizeof(info));
  info.mask = pidfd_info_exit;
  if (::ioctl(pid_fd, pidfd_get_info, &info) != 0 || (info.mask & pidfd_info_exit) == 0)
    return false;
  status = info.exit_code;
  return true;
}

/// Why a child's status is gone: the host's SIGCHLD setting, or a reaper.
std::string lost_status_reason() {
  struct sigaction current;
  if (::sigaction(SIGCHLD, nullptr, &current) == 0
      && (current.sa_handler == SIG_IGN || (current.sa_flags & SA_NOCLDWAIT) != 0))
    return "ended, but its exit status is unknown: this program ignores SIGCHLD (SIG_IGN or "
           "SA_NOCLDWAIT), so the kernel discarded it";
  return "ended, but its exit status is unknown: something else in this program reaped it "
         "(a waitpid(-1) or waitid(P_ALL))";
}

/// Fills `out` from a wait status.
void describe_wait_status(int status, process_exit& out) {
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
    out.reason = "exited with code " + std::to_string(out.exit_code);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
    out.reason = "was killed by signal " + std::to_string(out.signal) + " ("
                 + strsignal(out.signal) + ")";
  } else {
    out.reason = "ended with wait status " + std::to_string(status);
  }
}

/// Fills `out` from a waitid result.
void describe_exit(const siginfo_t& info, process_exit& out) {
  switch (info.si_code) {
    case CLD_EXITED:
      out.exit_code = info.si_status;
      out.reason = "exited with code " + std::to_string(info.si_status);
      return;
    case CLD_KILLED:
    case CLD_DUMPED:
      out.signal = info.si_status;
      out.reason = "was killed by signal " + std::to_string(info.si_status) + " ("
                   + strsignal(info.si_status) + ")";
      return;
    default:
      out.reason = "ended (waitid code " + std::to_string(info.si_code) + ")";
  }
}

} // namespace

bool operator==(const worker_spawn_options& x, const worker_spawn_options& y) {
  return x.executable == y.executable && x.python == y.python && x.module_dir == y.module_dir
         && x.python_path == y.python_path
         && x.slot == y.slot && x.uid == y.uid && x.max_objects == y.max_objects && x.log == y.log
         && x.env == y.env && x.cwd == y.cwd && x.imports == y.imports
         && x.start_hook == y.start_hook;
}

namespace {

/// Node-wide, once: glibc malloc keeps freed blocks of up to 32 MiB in the
/// heap instead of returning them to the kernel. Its default trims the
/// heap top and hands blocks over 128 KiB back at once until a large block
/// was freed, so each 1 MiB payload (request encoding, reply vector, the
/// caller's copies) could fault in ~480 fresh pages: 4-9 ms per 1 MiB call
/// measured here, against 0.2 ms with the pages kept (issue 11). These are
/// the values glibc's own dynamic thresholds reach after a 32 MiB block was
/// freed, set at once. A program that chose its own (GLIBC_TUNABLES
/// glibc.malloc.*_threshold, MALLOC_*_THRESHOLD_) keeps them.
void keep_freed_payload_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    std::string t = tunables != nullptr ? tunables : "";
    if (t.find("malloc.mmap_threshold") != std::string::npos
        || t.find("malloc.trim_threshold") != std::string::npos
        || std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr
        || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr)
      return;
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
  });
}

} // namespace

result<std::unique_ptr<worker_process>> worker_process::start(const worker_spawn_options& options,
                                                             worker_events events) {
  keep_freed_payload_memory();
  auto fail = [&](const std::string& what, int err) -> result<std::unique_ptr<worker_process>> {
    return make_error(errc::worker_crashed, "cannot start worker " + std::to_string(options.slot)
                                              + " from '" + options.executable + "': " + what
                                              + ": " + errno_text(err));
  };
  if (!options.cwd.empty()) { // checked here too, for a message that names it
    struct stat st;
    std::string problem;
    if (::stat(options.cwd.c_str(), &st) != 0)
      problem = errno_text(errno);
    else if (!S_ISDIR(st.st_mode))
      problem = "not a directory";
    if (!problem.empty())
      return make_error(errc::bad_request,
                        "cannot start worker " + std::to_string(options.slot)
                          + ": working directory (cwd) '" + options.cwd + "': " + problem
                          + ": set cwd to an existing directory or leave it empty");
  }
  // With our own launcher, what it would exec (python_boot.h); else the
  // configured program with --python for it to pass on.
  bool direct = !options.module_dir.empty() && !options.python.empty();
  const std::string& program = direct ? options.python : options.executable;
  std::vector<std::string> args;
  if (direct)
    args = {options.python, PYACTOR_PYTHON_FLAGS, "-c", PYACTOR_PYTHON_BOOT, options.module_dir};
  else
    args = {options.executable};
  for (auto& arg : {std::string{"--channel-fd"}, std::to_string(child_channel_fd),
                    std::string{"--reply-fd"}, std::to_string(child_reply_fd),
                    std::string{"--worker-id"}, std::to_string(options.slot),
                    std::string{"--worker-uid"}, std::to_string(options.uid),
                    std::string{"--max-objects"}, std::to_string(options.max_objects)})
    args.push_back(arg);
  if (!direct && !options.python.empty()) {
    args.emplace_back("--python");
    args.push_back(options.python);
  }
  for (auto& dir : options.python_path) {
    args.emplace_back("--python-path");
    args.push_back(dir);
  }
  for (auto& module : options.imports) {
    args.emplace_back("--import");
    args.push_back(module);
  }
  if (!options.start_hook.empty()) {
    args.emplace_back("--start-hook");
    args.push_back(options.start_hook);
  }
  // The node's environment with the configured variables on top.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    bool overridden = std::any_of(options.env.begin(), options.env.end(), [&](const auto& kv) {
      return entry.compare(0, eq, kv.first) == 0 && kv.first.size() == eq;
    });
    if (!overridden)
      env_strings.push_back(std::move(entry));
  }
  for (auto& kv : options.env)
    env_strings.push_back(kv.first + "=" + kv.second);
  std::vector<char*> envp;
  for (auto& entry : env_strings)
    envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return fail("socketpair", errno);
  // Room for a 1 MiB frame plus its neighbours in one write each way (the
  // default, ~208 KiB, split a 1 MiB request into five writes, each waiting
  // for the worker to drain). Best effort: the kernel caps it at wmem_max.
  for (int fd : {sv[0], sv[1]}) {
    int bytes = channel_buffer_bytes;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  // Replies come back on a pipe of their own. On the one socket both ways,
  // a reader blocked in read() is also woken when its peer consumes what it
  // wrote (the socket's write-space wake-up): two wake-ups per round trip.
  // With requests on the socket and replies on the pipe, each side is woken
  // only by data, so the worker can wait in a plain read(); a pipe is also
  // cheaper per write and read than a Unix socket. Requests stay on the
  // socket: send(MSG_NOSIGNAL) never raises SIGPIPE in the host program.
  int rep[2], out[2], err[2], report[2];
  if (pipe2(rep, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return fail("pipe", e);
  }
  if (::fcntl(rep[0], F_SETPIPE_SZ, reply_pipe_bytes) < 0) // best effort
    ::fcntl(rep[0], F_SETPIPE_SZ, reply_pipe_bytes / 2);
  if (pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    for (int fd : {sv[0], sv[1], rep[0], rep[1]})
      ::close(fd);
    return fail("pipe", e);
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    for (int fd : {sv[0], sv[1], rep[0], rep[1], out[0], out[1]})
      ::close(fd);
    return fail("pipe", e);
  }
  if (pipe2(report, O_CLOEXEC) != 0) {
    int e = errno;
    for (int fd : {sv[0], sv[1], rep[0], rep[1], out[0], out[1], err[0], err[1]})
      ::close(fd);
    return fail("pipe", e);
  }
  child_plan plan{program.c_str(),
                  argv.data(),
                  envp.data(),
                  options.cwd.empty() ? nullptr : options.cwd.c_str(),
                  dup_high(sv[1]),
                  dup_high(rep[1]),
                  dup_high(out[1]),
                  dup_high(err[1]),
                  report[1],
                  direct};

  // No signal handler of the node may run in the child before it resets them.
  sigset_t all_signals, old_mask;
  sigfillset(&all_signals);
  pthread_sigmask(SIG_SETMASK, &all_signals, &old_mask);
  int pid_fd = -1;
  pid_t pid = clone_with_pidfd(&pid_fd);
  if (pid == 0)
    exec_child(plan);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  for (int fd : {plan.channel, plan.reply, plan.out, plan.err, report[1]})
    ::close(fd);
  auto close_ours = [&] {
    for (int fd : {sv[0], rep[0], out[0], err[0], report[0]})
      ::close(fd);
  };
  if (pid < 0) {
    close_ours();
    return fail("clone", clone_errno);
  }
  // The error pipe closes on exec: EOF means the worker program runs.
  child_failure failure{0, 0};
  ssize_t got;
  while ((got = ::read(report[0], &failure, sizeof(failure))) < 0 && errno == EINTR) {
    // retry
  }
  if (got == static_cast<ssize_t>(sizeof(failure))) {
    siginfo_t info;
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pid_fd), &info,
                    WEXITED | __WALL)
             < 0
           && errno == EINTR) {
      // retry
    }
    ::close(pid_fd);
    close_ours();
    if (failure.stage == 1)
      return make_error(errc::bad_request,
                        "cannot start worker " + std::to_string(options.slot)
                          + ": working directory (cwd) '" + options.cwd
                          + "': " + errno_text(failure.err)
                          + ": set cwd to an existing directory or leave it empty");
    if (failure.stage == 2)
      return make_error(failure.err == ENOENT || failure.err == EACCES || failure.err == ENOEXEC
                            || failure.err == ENOTDIR
                          ? errc::bad_request
                          : errc::worker_crashed,
                        "cannot start worker " + std::to_string(options.slot) + " from '"
                          + program + "': exec: " + errno_text(failure.err)
                          + (direct ? " (check the python option)" : " (check worker-executable)"));
    return fail("descriptor setup in the child", failure.err);
  }
  ::close(report[0]);

  std::unique_ptr<worker_process> proc{new worker_process};
  proc->options_ = options;
  proc->events_ = std::move(events);
  proc->pid_ = pid;
  proc->pid_fd_ = pid_fd;
  proc->channel_fd_ = sv[0];
  proc->reply_fd_ = rep[0];
  proc->stdout_fd_ = out[0];
  proc->stderr_fd_ = err[0];
  proc->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  for (int fd : {sv[0], rep[0], out[0], err[0]})
    set_nonblocking(fd);
  proc->io_ = std::thread([p = proc.get()] { p->run_io(); });
  return proc;
}

worker_process::~worker_process() {
  {
    std::lock_guard<std::mutex> guard{out_mtx_};
    stopping_ = true;
    if (!reaped_)
      send_signal(pid_fd_, SIGKILL);
  }
  wake();
  if (io_.joinable())
    io_.join(); // ends once our process is reaped, whoever holds its pipes
  close_fd(pid_fd_);
  close_fd(channel_fd_);
  close_fd(reply_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  close_fd(wake_fd_);
}

void worker_process::send(const char* data, size_t size) {
  std::lock_guard<std::mutex> guard{out_mtx_};
  if (stopping_ || reaped_)
    return; // the exit report fails the call
  bool was_empty = outbox_pos_ == outbox_.size();
  if (was_empty) {
    while (size > 0) {
      ssize_t n = ::send(channel_fd_, data, size, MSG_NOSIGNAL);
      if (n > 0) {
        data += n;
        size -= static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        return; // broken channel: the I/O thread reports the death
      } else {
        break;
      }
    }
    if (size == 0)
      return;
    outbox_.clear();
    outbox_pos_ = 0;
  }
  outbox_.insert(outbox_.end(), data, data + size);
  if (!was_empty) {
    // Frames were already waiting for the socket: offer them and these in
    // one write now rather than one more wake-up of the I/O thread. What the
    // socket still refuses, the I/O thread writes: it polls for POLLOUT
    // since the outbox became non-empty (that send woke it).
    flush_outbox_locked();
    return;
  }
  wake();
}

void worker_process::signal(int sig) {
  std::lock_guard<std::mutex> guard{out_mtx_};
  if (!reaped_)
    send_signal(pid_fd_, sig);
}

void worker_process::interrupt(uint64_t call_id) {
  std::lock_guard<std::mutex> guard{out_mtx_};
  if (reaped_)
    return;
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  info.si_signo = SIGINT;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value.sival_ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(call_id));
  send_signal(pid_fd_, SIGINT, &info);
}

void worker_process::set_alarm(std::chrono::steady_clock::time_point at) {
  std::lock_guard<std::mutex> guard{out_mtx_};
  if (at >= alarm_)
    return;
  alarm_ = at;
  wake();
}

void worker_process::wake() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
}

bool worker_process::flush_outbox_locked() {
  while (outbox_pos_ < outbox_.size()) {
    ssize_t n = ::send(channel_fd_, outbox_.data() + outbox_pos_, outbox_.size() - outbox_pos_, MSG_NOSIGNAL);
    if (n > 0)
      outbox_pos_ += static_cast<size_t>(n);
    else if (n < 0 && errno == EINTR)
      continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return false;
    else
      return false; // broken: reading side will see the end
  }
  outbox_.clear();
  outbox_pos_ = 0;
  return true;
}

void worker_process::set_io_reader(bool on) {
  io_reads_.store(on);
  // The I/O thread re-reads io_reads_ after it publishes channel_polled_
  // (both seq_cst): either it sees `on`, or this sees that it must be woken.
  if (on && !channel_polled_.load())
    wake();
}

bool worker_process::read_some() {
  bool open;
  {
    std::lock_guard<std::mutex> guard{read_mtx_};
    open = read_locked();
  }
  if (events_.on_read_end)
    events_.on_read_end();
  return open;
}

bool worker_process::read_locked() {
  using namespace pyactor::worker;
  if (!channel_open_.load())
    return false;
  // Hands out every complete frame in `in_` (and those its markers bring
  // from the socket); false on a malformed one.
  auto deliver_frames = [&]() -> bool {
    size_t pos = 0;
    bool delivered = false;
    while (have_ - pos >= 4) {
      uint32_t length = get_u32(in_.data() + pos);
      if (length & aside_flag) {
        pos += 4;
        if (!read_aside_locked(length & ~aside_flag, delivered))
          return false;
        continue;
      }
      if (aside_head_have_ > 0) {
        failure_ = "sent a frame on its reply pipe before the frame it was sending on its socket "
                   "was whole";
        return false;
      }
      if (length < reply_header_size - 4 || length > max_frame_size) {
        failure_ = "sent a malformed frame (length " + std::to_string(length) + ")";
        return false;
      }
      size_t frame = 4 + size_t{length};
      if (have_ - pos < frame) {
        if (in_.size() < frame)
          in_.resize(frame);
        break;
      }
      const char* p = in_.data() + pos;
      events_.on_frame(get_u64(p + 4), static_cast<uint8_t>(p[12]),
                       std::vector<char>(p + reply_header_size, p + frame));
      delivered = true;
      pos += frame;
    }
    if (pos > 0) {
      std::memmove(in_.data(), in_.data() + pos, have_ - pos);
      have_ -= pos;
    }
    if (delivered && events_.on_batch_end)
      events_.on_batch_end();
    return true;
  };
  for (;;) {
    if (have_ == in_.size())
      in_.resize(in_.size() * 2);
    size_t room = in_.size() - have_;
    ssize_t n = ::read(reply_fd_, in_.data() + have_, room);
    if (n > 0) {
      have_ += static_cast<size_t>(n);
      if (!deliver_frames()) {
        channel_open_.store(false);
        send_signal(pid_fd_, SIGKILL);
        return false;
      }
      if (static_cast<size_t>(n) < room)
        return true; // a short read took all there was: poll tells of the rest
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        channel_open_.store(false); // closed: the process is on its way out
        {
          std::lock_guard<std::mutex> out_guard{out_mtx_};
          kill_at_ = std::min(kill_at_, std::chrono::steady_clock::now()
                                          + std::chrono::milliseconds(200));
        }
        wake(); // the I/O thread keeps that deadline
        return false;
      }
      return true;
    }
  }
}

bool worker_process::read_aside_locked(size_t n, bool& delivered) {
  using namespace pyactor::worker;
  static_assert(sizeof(aside_head_) == reply_header_size);
  auto take = [&](char* into, size_t want) -> bool {
    while (want > 0) {
      ssize_t got = ::recv(channel_fd_, into, want, MSG_DONTWAIT);
      if (got > 0) {
        into += got;
        want -= static_cast<size_t>(got);
        n -= static_cast<size_t>(got);
      } else if (!(got < 0 && errno == EINTR)) {
        failure_ = "announced " + std::to_string(n)
                   + " more reply bytes on its socket than it had sent there";
        return false;
      }
    }
    return true;
  };
  while (n > 0) {
    if (aside_head_have_ < reply_header_size) {
      size_t want = std::min(n, reply_header_size - aside_head_have_);
      if (!take(aside_head_ + aside_head_have_, want))
        return false;
      aside_head_have_ += want;
      if (aside_head_have_ < reply_header_size)
        continue;
      uint32_t length = get_u32(aside_head_);
      if (length < reply_header_size - 4 || length > max_frame_size) {
        failure_ = "sent a malformed frame on its socket (length " + std::to_string(length) + ")";
        return false;
      }
      aside_body_size_ = size_t{length} + 4 - reply_header_size;
      aside_body_.clear();
      // Address space only (no page is touched), bounded by max_frame_size
      // as the pipe's buffer is: the pieces then fill it without copies.
      aside_body_.reserve(aside_body_size_);
    } else {
      // Filled by what the socket holds now, never by what the header claims.
      size_t have = aside_body_.size();
      size_t want = std::min(n, aside_body_size_ - have);
      aside_body_.resize(have + want);
      if (!take(aside_body_.data() + have, want))
        return false;
    }
    if (aside_head_have_ == reply_header_size && aside_body_.size() == aside_body_size_) {
      aside_head_have_ = 0;
      events_.on_frame(get_u64(aside_head_ + 4), static_cast<uint8_t>(aside_head_[12]),
                       std::move(aside_body_));
      aside_body_ = std::vector<char>{};
      delivered = true;
    }
  }
  return true;
}

void worker_process::run_io() {
  using namespace pyactor::worker;
  const std::string prefix = "[worker " + std::to_string(options_.slot) + " pid "
                             + std::to_string(pid_) + "] ";
  line_splitter out_lines, err_lines;
  auto log_out = [&](const std::string& line) { send_log(options_.log, prefix + line); };
  auto log_err = [&](const std::string& line) { send_log(options_.log, prefix + "stderr: " + line); };
  char chunk[4096];
  bool out_open = true, err_open = true;

  auto drain_pipe = [&](int fd, bool& open, line_splitter& lines, auto& emit) {
    for (;;) {
      ssize_t n = ::read(fd, chunk, sizeof(chunk));
      if (n > 0) {
        lines.feed(chunk, static_cast<size_t>(n), emit);
      } else if (n == 0) {
        open = false;
        lines.finish(emit);
        return;
      } else if (errno != EINTR) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          open = false;
          lines.finish(emit);
        }
        return;
      }
    }
  };

  // Runs until our process has ended. The pipes and the channel may stay
  // open longer (a grandchild may hold them): they are never waited for.
  using clock = std::chrono::steady_clock;
  bool exited = false;
  bool keep_channel = true; // see channel_polled_
  bool requests_open = true; // the process has not hung up the request socket
  while (!exited) {
    bool want_write;
    bool channel_open = channel_open_.load();
    clock::time_point alarm, kill_at;
    {
      std::lock_guard<std::mutex> guard{out_mtx_};
      want_write = channel_open && outbox_pos_ < outbox_.size();
      alarm = alarm_;
      kill_at = kill_at_;
    }
    auto now = clock::now();
    if (alarm <= now) {
      {
        std::lock_guard<std::mutex> guard{out_mtx_};
        if (alarm_ == alarm)
          alarm_ = clock::time_point::max();
      }
      if (events_.on_alarm)
        events_.on_alarm();
      continue;
    }
    if (kill_at <= now) {
      {
        std::lock_guard<std::mutex> guard{read_mtx_};
        if (failure_.empty())
          failure_ = "closed its channel without exiting and was killed";
      }
      send_signal(pid_fd_, SIGKILL);
      std::lock_guard<std::mutex> guard{out_mtx_};
      kill_at_ = clock::time_point::max();
      kill_at = kill_at_;
    }
    auto next = std::min(alarm, kill_at);
    int wait_ms = -1;
    if (next != clock::time_point::max())
      wait_ms = static_cast<int>(std::min<int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1, 60000));
    // The channel is read here only while this thread holds the reader
    // token (else a waiting caller reads it: see `read_some`). It stays in
    // the poll set after the token went free, so that taking it back (the
    // next call from a thread that does not wait) costs no wake-up, until
    // a reply arrives that a waiting caller reads: then it leaves the set.
    channel_polled_.store(channel_open && keep_channel);
    bool reads = io_reads_.load();
    if (reads)
      keep_channel = true;
    bool polls_channel = channel_open && keep_channel;
    if (polls_channel)
      channel_polled_.store(true);
    pollfd fds[6] = {
      {polls_channel ? reply_fd_ : -1, POLLIN, 0},
      {out_open ? stdout_fd_ : -1, POLLIN, 0},
      {err_open ? stderr_fd_ : -1, POLLIN, 0},
      {wake_fd_, POLLIN, 0},
      {pid_fd_, POLLIN, 0},
      // POLLHUP comes whatever the events: a process that closed its end
      // of the requests is treated like one that closed its replies.
      {requests_open ? channel_fd_ : -1, static_cast<short>(want_write ? POLLOUT : 0), 0},
    };
    if (::poll(fds, 6, wait_ms) < 0) {
      if (errno == EINTR)
        continue;
      {
        std::lock_guard<std::mutex> guard{read_mtx_};
        failure_ = std::string{"poll failed: "} + std::strerror(errno);
      }
      send_signal(pid_fd_, SIGKILL);
      fds[4].revents = POLLIN; // reap below
    }
    if (fds[3].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof(count));
    }
    if (fds[5].revents & POLLOUT) {
      std::lock_guard<std::mutex> guard{out_mtx_};
      flush_outbox_locked();
    }
    if (fds[5].revents & (POLLHUP | POLLERR)) {
      requests_open = false; // polled no more: the process is on its way out
      std::lock_guard<std::mutex> guard{out_mtx_};
      outbox_.clear(); // nothing more can be written
      outbox_pos_ = 0;
      kill_at_ = std::min(kill_at_, clock::now() + std::chrono::milliseconds(200));
    }
    if (fds[1].revents)
      drain_pipe(stdout_fd_, out_open, out_lines, log_out);
    if (fds[2].revents)
      drain_pipe(stderr_fd_, err_open, err_lines, log_err);
    exited = (fds[4].revents & POLLIN) != 0;
    // After the exit, read what the process wrote before it ended, no more.
    bool readable = (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    if (readable && !exited && !io_reads_.load())
      keep_channel = false; // a waiting caller reads: stop watching the channel
    else if (channel_open && (exited || readable))
      read_some();
  }

  // Our process has ended: reap it, and it alone.
  siginfo_t info;
  std::memset(&info, 0, sizeof(info));
  int rc;
  while ((rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pid_fd_), &info,
                        WEXITED | __WALL))
           < 0
         && errno == EINTR) {
    // retry
  }
  int wait_errno = errno;
  int kept_status = 0;
  bool kept = rc != 0 && wait_errno == ECHILD && exit_status_from_pidfd(pid_fd_, kept_status);
  {
    std::lock_guard<std::mutex> guard{out_mtx_};
    reaped_ = true;
  }
  // Output written before the end, without waiting for the pipes to close.
  if (out_open)
    drain_pipe(stdout_fd_, out_open, out_lines, log_out);
  if (err_open)
    drain_pipe(stderr_fd_, err_open, err_lines, log_err);
  out_lines.finish(log_out);
  err_lines.finish(log_err);

  process_exit exit;
  if (rc == 0)
    describe_exit(info, exit);
  else if (kept)
    describe_wait_status(kept_status, exit);
  else if (wait_errno == ECHILD)
    exit.reason = lost_status_reason();
  else
    exit.reason = "ended, but its exit status is unknown (waitid: " + errno_text(wait_errno) + ")";
  std::string failure;
  {
    std::lock_guard<std::mutex> guard{read_mtx_};
    failure = failure_;
  }
  if (!failure.empty())
    exit.reason = failure + (exit.signal != 0 || exit.exit_code >= 0 ? " (it " + exit.reason + ")" : "");
  if (!err_lines.last_line.empty())
    exit.reason += " (last stderr line: " + err_lines.last_line + ")";
  if (events_.on_exit)
    events_.on_exit(std::move(exit));
}

} // namespace pyactor::actors
