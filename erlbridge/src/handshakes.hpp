// The gateway's acceptor: accepts connections on the distribution port and
// runs each one's handshake (ei: cookie check and flags) on a thread of its
// own with a deadline, so a peer that stalls in its handshake delays no
// other connection.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include <ei.h>

namespace pyactor::erlbridge {

class handshakes {
public:
  using clock = std::chrono::steady_clock;
  /// A connection whose handshake succeeded: its fd and the peer's node name.
  using accepted_fn = std::function<void(int fd, std::string node)>;
  using log_fn = std::function<void(const std::string&)>;

  /// Handshakes in progress at once; more connections are refused meanwhile.
  static constexpr size_t max_in_progress = 64;

  /// `ec` and `listen_fd` (non-blocking, from ei_xlisten) must outlive this.
  handshakes(ei_cnode& ec, int listen_fd, std::chrono::milliseconds timeout,
             accepted_fn accepted, log_fn log);

  /// Stops: cuts every handshake in progress and joins all threads.
  ~handshakes();

  handshakes(const handshakes&) = delete;
  handshakes& operator=(const handshakes&) = delete;

  /// Starts the accept thread.
  void start();

  /// Makes the accept thread cut the handshakes in progress and return;
  /// waits for it. Idempotent.
  void stop();

private:
  /// One connection in its handshake, on a thread of its own.
  struct attempt {
    int watch_fd = -1; // a dup of the socket: shutdown() at the deadline wakes ei
    clock::time_point deadline;
    bool finished = false; // guarded by mtx_
    std::thread thread;
  };

  void accept_loop();
  void run(int fd, attempt* a, clock::time_point deadline);
  /// Joins finished attempts; shuts down those past their deadline (or all).
  void reap(bool all);

  ei_cnode& ec_;
  int listen_fd_;
  std::chrono::milliseconds timeout_;
  accepted_fn accepted_;
  log_fn log_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mtx_;
  std::list<attempt> attempts_; // changed by the accept thread only; fields under mtx_
};

} // namespace pyactor::erlbridge
