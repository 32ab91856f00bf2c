#include "pyactor/actors/worker_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "pyactor/worker/protocol.hpp"

extern char** environ;

namespace pyactor::actors {

namespace {

/// Child-side descriptors are moved above this number first, so the dup2
/// calls onto 1, 2 and 3 in the child can never clobber one another.
constexpr int high_fd_floor = 10;

/// The descriptor number pyactor-worker reads its channel from.
constexpr int child_channel_fd = 3;

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

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with wait status " + std::to_string(status);
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

result<std::unique_ptr<worker_process>> worker_process::start(const worker_spawn_options& options,
                                                             worker_events events) {
  auto fail = [&](const std::string& what, int err) -> result<std::unique_ptr<worker_process>> {
    return make_error(errc::worker_crashed, "cannot start worker " + std::to_string(options.slot)
                                              + " from '" + options.executable + "': " + what
                                              + ": " + errno_text(err));
  };
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return fail("socketpair", errno);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return fail("pipe", e);
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    for (int fd : {sv[0], sv[1], out[0], out[1]})
      ::close(fd);
    return fail("pipe", e);
  }
  int child_channel = dup_high(sv[1]);
  int child_out = dup_high(out[1]);
  int child_err = dup_high(err[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, child_out, 1);
  posix_spawn_file_actions_adddup2(&actions, child_err, 2);
  posix_spawn_file_actions_adddup2(&actions, child_channel, child_channel_fd);
  if (!options.cwd.empty())
    posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &all_signals);
  posix_spawnattr_setpgroup(&attr, 0); // a Ctrl-C at the terminal is the node's to handle
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                                    | POSIX_SPAWN_SETPGROUP);

  std::vector<std::string> args{options.executable,
                                "--channel-fd",
                                std::to_string(child_channel_fd),
                                "--worker-id",
                                std::to_string(options.slot),
                                "--worker-uid",
                                std::to_string(options.uid),
                                "--max-objects",
                                std::to_string(options.max_objects)};
  if (!options.python.empty()) {
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

  pid_t pid = -1;
  int rc = posix_spawn(&pid, options.executable.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int fd : {child_channel, child_out, child_err})
    ::close(fd);
  if (rc != 0) {
    for (int fd : {sv[0], out[0], err[0]})
      ::close(fd);
    return fail("spawn", rc);
  }

  std::unique_ptr<worker_process> proc{new worker_process};
  proc->options_ = options;
  if (!proc->options_.log)
    proc->options_.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  proc->events_ = std::move(events);
  proc->pid_ = pid;
  proc->channel_fd_ = sv[0];
  proc->stdout_fd_ = out[0];
  proc->stderr_fd_ = err[0];
  proc->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  for (int fd : {sv[0], out[0], err[0]})
    set_nonblocking(fd);
  proc->io_ = std::thread([p = proc.get()] { p->run_io(); });
  return proc;
}

worker_process::~worker_process() {
  {
    std::lock_guard<std::mutex> guard{out_mtx_};
    stopping_ = true;
    if (!reaped_)
      ::kill(pid_, SIGKILL);
  }
  wake();
  if (io_.joinable())
    io_.join();
  close_fd(channel_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  close_fd(wake_fd_);
}

void worker_process::send(const char* data, size_t size) {
  std::lock_guard<std::mutex> guard{out_mtx_};
  if (stopping_ || reaped_)
    return; // the exit report fails the call
  if (outbox_pos_ == outbox_.size()) {
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
  wake();
}

void worker_process::signal(int sig) {
  std::lock_guard<std::mutex> guard{out_mtx_};
  if (!reaped_)
    ::kill(pid_, sig);
}

void worker_process::interrupt(uint64_t call_id) {
  std::lock_guard<std::mutex> guard{out_mtx_};
  if (reaped_)
    return;
  sigval payload;
  payload.sival_ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(call_id));
  ::sigqueue(pid_, SIGINT, payload);
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

void worker_process::run_io() {
  using namespace pyactor::worker;
  const std::string prefix = "[worker " + std::to_string(options_.slot) + " pid "
                             + std::to_string(pid_) + "] ";
  line_splitter out_lines, err_lines;
  auto log_out = [&](const std::string& line) { options_.log(prefix + line); };
  auto log_err = [&](const std::string& line) { options_.log(prefix + "stderr: " + line); };
  std::vector<char> in(256 * 1024);
  size_t have = 0;
  std::string failure; // set when the process broke the protocol
  char chunk[4096];
  bool channel_open = true, out_open = true, err_open = true;

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

  // Hands out every complete frame in `in`; false on a malformed one.
  auto deliver_frames = [&]() -> bool {
    size_t pos = 0;
    while (have - pos >= 4) {
      uint32_t length = get_u32(in.data() + pos);
      if (length < reply_header_size - 4 || length > max_frame_size) {
        failure = "sent a malformed frame (length " + std::to_string(length) + ")";
        return false;
      }
      size_t frame = 4 + size_t{length};
      if (have - pos < frame) {
        if (in.size() < frame)
          in.resize(frame);
        break;
      }
      const char* p = in.data() + pos;
      events_.on_frame(get_u64(p + 4), static_cast<uint8_t>(p[12]),
                       std::vector<char>(p + reply_header_size, p + frame));
      pos += frame;
    }
    if (pos > 0) {
      std::memmove(in.data(), in.data() + pos, have - pos);
      have -= pos;
      if (events_.on_batch_end)
        events_.on_batch_end();
    }
    return true;
  };

  while (channel_open) {
    bool want_write;
    {
      std::lock_guard<std::mutex> guard{out_mtx_};
      want_write = outbox_pos_ < outbox_.size();
    }
    pollfd fds[4] = {
      {channel_fd_, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0},
      {out_open ? stdout_fd_ : -1, POLLIN, 0},
      {err_open ? stderr_fd_ : -1, POLLIN, 0},
      {wake_fd_, POLLIN, 0},
    };
    if (::poll(fds, 4, -1) < 0) {
      if (errno == EINTR)
        continue;
      failure = std::string{"poll failed: "} + std::strerror(errno);
      break;
    }
    if (fds[3].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof(count));
    }
    if (fds[0].revents & POLLOUT) {
      std::lock_guard<std::mutex> guard{out_mtx_};
      flush_outbox_locked();
    }
    if (fds[1].revents)
      drain_pipe(stdout_fd_, out_open, out_lines, log_out);
    if (fds[2].revents)
      drain_pipe(stderr_fd_, err_open, err_lines, log_err);
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      for (;;) {
        if (have == in.size())
          in.resize(in.size() * 2);
        ssize_t n = ::read(channel_fd_, in.data() + have, in.size() - have);
        if (n > 0) {
          have += static_cast<size_t>(n);
          if (!deliver_frames()) {
            channel_open = false;
            break;
          }
        } else if (n == 0) {
          channel_open = false;
          break;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        } else if (errno != EINTR) {
          channel_open = false;
          break;
        }
      }
    }
  }

  // The channel is closed (or broken): make sure the process is gone, reap it.
  if (!failure.empty())
    ::kill(pid_, SIGKILL);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  pid_t done = 0;
  while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0
         && std::chrono::steady_clock::now() < deadline)
    ::usleep(1000);
  if (done == 0) {
    if (failure.empty())
      failure = "closed its channel without exiting and was killed";
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      // retry
    }
  }
  {
    std::lock_guard<std::mutex> guard{out_mtx_};
    reaped_ = true;
  }
  if (out_open)
    drain_pipe(stdout_fd_, out_open, out_lines, log_out);
  if (err_open)
    drain_pipe(stderr_fd_, err_open, err_lines, log_err);
  out_lines.finish(log_out);
  err_lines.finish(log_err);

  process_exit exit;
  if (WIFEXITED(status))
    exit.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    exit.signal = WTERMSIG(status);
  exit.reason = failure.empty() ? describe_status(status) : failure;
  if (!err_lines.last_line.empty())
    exit.reason += " (last stderr line: " + err_lines.last_line + ")";
  events_.on_exit(std::move(exit));
}

} // namespace pyactor::actors
