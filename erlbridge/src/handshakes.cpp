#include "handshakes.hpp"

#include <cerrno>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ei_socket.hpp"

namespace pyactor::erlbridge {

handshakes::handshakes(ei_cnode& ec, int listen_fd, std::chrono::milliseconds timeout,
                       accepted_fn accepted, log_fn log)
  : ec_(ec),
    listen_fd_(listen_fd),
    timeout_(timeout),
    accepted_(std::move(accepted)),
    log_(std::move(log)) {
  // nop
}

handshakes::~handshakes() {
  stop();
}

void handshakes::start() {
  acceptor_ = std::thread([this] { accept_loop(); });
}

void handshakes::stop() {
  stopping_ = true;
  if (acceptor_.joinable())
    acceptor_.join();
}

void handshakes::run(int fd, attempt* a, clock::time_point deadline) {
  hand_over_accepted(fd);
  ErlConnect con{};
  auto ms = static_cast<unsigned>(timeout_.count() > 0 ? timeout_.count() : 1);
  auto cfd = ei_accept_tmo(&ec_, listen_fd_, &con, ms);
  auto err = erl_errno;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    a->finished = true;
    ::close(a->watch_fd);
    a->watch_fd = -1;
  }
  if (cfd < 0) {
    if (err == ETIMEDOUT || clock::now() >= deadline)
      log_("refused a connection: handshake did not finish within "
           + std::to_string(timeout_.count()) + " ms");
    else if (!stopping_.load())
      log_("refused a connection: handshake failed (wrong cookie or protocol)");
    return;
  }
  if (stopping_.load()) {
    ei_close_connection(cfd);
    return;
  }
  accepted_(cfd, con.nodename);
}

void handshakes::reap(bool all) {
  auto now = clock::now();
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto i = attempts_.begin(); i != attempts_.end();) {
      if (i->finished) {
        done.push_back(std::move(i->thread));
        i = attempts_.erase(i);
        continue;
      }
      if (all || now >= i->deadline)
        ::shutdown(i->watch_fd, SHUT_RDWR);
      ++i;
    }
  }
  for (auto& t : done)
    t.join();
}

void handshakes::accept_loop() {
  while (!stopping_.load()) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    auto rc = ::poll(&pfd, 1, 100);
    reap(false);
    if (rc <= 0 || stopping_.load())
      continue;
    int fd;
    do {
      fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE)
        std::this_thread::sleep_for(std::chrono::milliseconds(50)); // out of fds: back off
      continue;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    if (attempts_.size() >= max_in_progress) {
      log_("refused a connection: " + std::to_string(max_in_progress)
           + " handshakes are in progress already");
      ::close(fd);
      continue;
    }
    auto watch = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (watch < 0) {
      ::close(fd);
      continue;
    }
    auto& a = attempts_.emplace_back();
    a.watch_fd = watch;
    a.deadline = clock::now() + timeout_;
    auto* p = &a;
    auto deadline = a.deadline;
    a.thread = std::thread([this, fd, p, deadline] { run(fd, p, deadline); });
  }
  // Cut what is in progress, and wait for every handshake thread.
  for (;;) {
    reap(true);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (attempts_.empty())
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

} // namespace pyactor::erlbridge
