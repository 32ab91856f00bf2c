// One `pyactor-worker` OS process and the I/O thread that talks to it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "actors/log_actor.hpp"
#include "pyactor/error.hpp"

namespace pyactor::actors {

/// How to start a worker process: plain data (see `inspect`), so a spec can
/// travel to another host.
struct worker_spawn_options {
  std::string executable;
  /// The Python executable the worker runs (passed as --python); empty: the
  /// worker's default.
  std::string python;
  /// Set when `executable` is pyactor's own launcher (pyactor-worker): the
  /// folder of its `_pyactor_worker` module. The node then runs what the
  /// launcher would (worker/python_boot.h): `python` itself (which must then
  /// be set), one exec and one program load less per start. Empty:
  /// `executable` is run as given.
  std::string module_dir;
  std::vector<std::string> python_path;
  uint64_t slot = 0;
  uint64_t uid = 0;
  uint64_t max_objects = 100000;
  /// Where the process's output lines and the pool's diagnostics about it go
  /// (`send_log`); an invalid handle means stderr.
  log_actor log;
  /// Set on top of the node's environment.
  std::vector<std::pair<std::string, std::string>> env;
  /// Working directory; empty keeps the node's.
  std::string cwd;
  /// Imported before the process reports ready.
  std::vector<std::string> imports;
  /// "module.function" called before the process reports ready.
  std::string start_hook;
};

bool operator==(const worker_spawn_options& x, const worker_spawn_options& y);

inline bool operator!=(const worker_spawn_options& x, const worker_spawn_options& y) {
  return !(x == y);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_spawn_options& x) {
  return f(caf::meta::type_name("pyactor::worker_spawn_options"), x.executable, x.python,
           x.module_dir, x.python_path, x.slot, x.uid, x.max_objects, x.log, x.env, x.cwd, x.imports,
           x.start_hook);
}

/// How a worker process ended.
struct process_exit {
  int exit_code = -1; ///< valid when signal == 0; -1 when unknown
  int signal = 0;     ///< the signal that killed it, or 0
  /// Human-readable: "exited with code 3", "was killed by signal 9 (Killed)",
  /// "sent a malformed frame (length 7)", plus the last stderr line if any.
  std::string reason;
};

/// Callbacks from the reader of the channel (the I/O thread, or a caller in
/// `read_some`) and from the I/O thread. `on_frame` gets every reply frame
/// in order (call id 0 is the ready frame); `on_batch_end` (optional)
/// follows the frames of one read; both run under the reader's lock, so they
/// must not run user code: `on_read_end` (optional) runs after it, on the
/// same thread, once per `read_some`. `on_alarm` (optional) runs when the
/// time set with `set_alarm` has come; `on_exit` comes exactly once, last.
struct worker_events {
  std::function<void(uint64_t call_id, uint8_t status, std::vector<char> payload)> on_frame;
  std::function<void()> on_batch_end;
  std::function<void()> on_read_end;
  std::function<void()> on_alarm;
  std::function<void(process_exit)> on_exit;
};

/// Owns a worker process, its channel socket and its stdout/stderr pipes,
/// plus one I/O thread that reads replies and output and notices the death.
///
/// Death is noticed from the process itself (a pidfd in the I/O thread's
/// poll set), never from the end of a pipe: a grandchild that inherited the
/// worker's stdout or channel does not delay it. Signals go through the
/// pidfd, so a recycled pid is never hit. The status comes from waitid on
/// the pidfd; when the host program ignores SIGCHLD the kernel discards it,
/// and then it is read back from the pidfd (Linux 6.13+) or reported as
/// unknown, saying why (never as "exited with code 0").
/// The node's ends of the channel and pipes are close-on-exec.
/// `send` is thread-safe and never blocks on a full socket. The destructor
/// kills the process (SIGKILL), waits for it alone (not for its children)
/// and joins the thread.
class worker_process {
public:
  /// Spawns the process. On failure returns an error naming what failed:
  /// `bad_request` when the setup can never work (a working directory or
  /// executable that is missing), `worker_crashed` for a resource shortage.
  static result<std::unique_ptr<worker_process>> start(const worker_spawn_options& options,
                                                       worker_events events);

  worker_process(const worker_process&) = delete;
  worker_process& operator=(const worker_process&) = delete;
  ~worker_process();

  pid_t pid() const { return pid_; }

  /// Queues a whole frame for the process: written now if the socket takes
  /// it, else by the I/O thread when it drains.
  void send(const char* data, size_t size);

  /// Sends `sig` to the process (no-op once it has been reaped).
  void signal(int sig);

  /// Interrupts call `call_id` (KeyboardInterrupt) if the process runs it or
  /// has not started it yet; a call already finished is not affected.
  void interrupt(uint64_t call_id);

  /// The pipe the process writes its replies to (for a caller that waits
  /// on it and then calls `read_some`).
  int reply_fd() const { return reply_fd_; }

  /// Reads what the channel holds now (never blocks) and hands out its
  /// complete frames through `on_frame` and `on_batch_end`, on this thread.
  /// One reader at a time (a mutex): the I/O thread, or a caller holding
  /// the reader token of the worker's call lane. False once the channel is
  /// closed or broken (the I/O thread then reports the end).
  bool read_some();

  /// Whether the I/O thread polls the channel for replies (the reader
  /// token); it always polls the process's pidfd, pipes and alarm. Giving
  /// it the token wakes it only if its poll set lacks the channel (it keeps
  /// the channel there after the token went free, until a waiting caller
  /// reads a reply).
  void set_io_reader(bool on);

  /// Asks the I/O thread to call `on_alarm` at `at` (or soon after). Only the
  /// earliest pending alarm is kept; a later one does not replace it. The
  /// alarm lives and dies with the process: nothing outlives it.
  void set_alarm(std::chrono::steady_clock::time_point at);

private:
  worker_process() = default;
  void run_io();
  bool read_locked();
  /// Takes the `n` bytes a marker announced from the socket (see
  /// protocol.hpp `aside_flag`); false (with `failure_`) if they are not
  /// there or do not make a frame.
  bool read_aside_locked(size_t n, bool& delivered);
  bool flush_outbox_locked();
  void wake();

  worker_spawn_options options_;
  worker_events events_;
  pid_t pid_ = -1;
  int pid_fd_ = -1;
  int channel_fd_ = -1; ///< requests go out on this socket
  int reply_fd_ = -1;   ///< replies come in on this pipe
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex out_mtx_;
  std::vector<char> outbox_; // bytes the socket did not take yet
  size_t outbox_pos_ = 0;
  bool stopping_ = false;    // guarded by out_mtx_
  bool reaped_ = false;      // guarded by out_mtx_
  /// The earliest alarm asked for, guarded by out_mtx_.
  std::chrono::steady_clock::time_point alarm_ = std::chrono::steady_clock::time_point::max();
  /// When to kill a process that closed its channel, guarded by out_mtx_.
  std::chrono::steady_clock::time_point kill_at_ = std::chrono::steady_clock::time_point::max();
  /// The reading side of the channel: whoever reads holds read_mtx_.
  std::mutex read_mtx_;
  std::vector<char> in_ = std::vector<char>(256 * 1024);
  size_t have_ = 0;
  /// The reply frame arriving aside, on the socket: its header, then its
  /// payload (read straight into the vector handed to `on_frame`).
  char aside_head_[13] = {};
  size_t aside_head_have_ = 0;
  std::vector<char> aside_body_;
  size_t aside_body_size_ = 0;
  std::string failure_; // set when the process broke the protocol
  std::atomic<bool> channel_open_{true};
  std::atomic<bool> io_reads_{true};
  /// The I/O thread's poll set has the channel (for reading): handing it
  /// the reader token then needs no wake-up.
  std::atomic<bool> channel_polled_{false};
  std::thread io_;
};

} // namespace pyactor::actors
