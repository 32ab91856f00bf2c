#include "frame_channel.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <Python.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/protocol.hpp"

namespace pyactor::worker {

namespace {

// The descriptors of the open channel, for the fork handler (-1: none).
std::atomic<int> channel_fd{-1};
std::atomic<int> reply_fd{-1};
// Set in a forked child; never cleared there.
std::atomic<bool> forked_child{false};

// Runs in the child of every fork() of this process (os.fork, C libraries),
// before any Python code: the child must never read or write the channel.
// close() is async-signal-safe.
void after_fork_in_child() {
  int fd = channel_fd.exchange(-1);
  int out = reply_fd.exchange(-1);
  if (fd >= 0 || out >= 0)
    forked_child.store(true);
  if (fd >= 0)
    ::close(fd);
  if (out >= 0 && out != fd)
    ::close(out);
}

/// Releases the GIL for the scope when the calling thread holds it.
class gil_released {
public:
  gil_released() : state_(PyGILState_Check() ? PyEval_SaveThread() : nullptr) {}
  gil_released(const gil_released&) = delete;
  gil_released& operator=(const gil_released&) = delete;
  ~gil_released() {
    if (state_ != nullptr)
      PyEval_RestoreThread(state_);
  }

private:
  PyThreadState* state_;
};

} // namespace

frame_channel::frame_channel(int in_fd, int out_fd)
  : fd_(in_fd), out_fd_(out_fd), buf_(256 * 1024) {
  for (int fd : {in_fd, out_fd}) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
      throw std::runtime_error(std::string{fd == in_fd ? "channel" : "reply"} + " fd "
                               + std::to_string(fd) + " is not usable: " + std::strerror(errno));
  }
  static const bool registered = [] {
    return pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0;
  }();
  if (!registered)
    throw std::runtime_error("cannot register the fork handler of the channel");
  channel_fd.store(in_fd);
  reply_fd.store(out_fd);
  // A frame the reply pipe may not hold whole goes aside on the socket (the
  // pipe may still hold earlier replies: half its size is the limit), if
  // the socket holds more than the pipe: then the frame goes out in fewer
  // pieces, each one a wake-up of both sides. Its send buffer as the kernel
  // reports it (twice what was asked, capped by net.core.wmem_max: 4 MiB
  // on the VM measured, ~416 KiB on a stock Debian) also pays the packets'
  // overhead: a quarter is kept for that.
  int type = 0, sndbuf = 0;
  socklen_t type_size = sizeof(type), sndbuf_size = sizeof(sndbuf);
  int pipe_bytes = out_fd != in_fd ? ::fcntl(out_fd, F_GETPIPE_SZ) : -1;
  if (pipe_bytes > 0 && ::getsockopt(in_fd, SOL_SOCKET, SO_TYPE, &type, &type_size) == 0
      && type == SOCK_STREAM
      && ::getsockopt(in_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sndbuf_size) == 0
      && static_cast<size_t>(sndbuf) / 4 * 3 > static_cast<size_t>(pipe_bytes))
    aside_above_ = static_cast<size_t>(pipe_bytes) / 2;
}

frame_channel::~frame_channel() {
  int expected = fd_;
  channel_fd.compare_exchange_strong(expected, -1);
  expected = out_fd_;
  reply_fd.compare_exchange_strong(expected, -1);
}

bool frame_channel::in_forked_child() {
  return forked_child.load();
}

bool frame_channel::next(uint64_t& call_id, const char*& body, size_t& size) {
  if (forked_child.load())
    return false; // a forked child never serves, not even frames already buffered
  begin_ += pending_;
  pending_ = 0;
  just_read_ = false;
  for (;;) {
    size_t have = end_ - begin_;
    if (have >= 4) {
      uint32_t length = get_u32(buf_.data() + begin_);
      if (length < 8 || length > max_frame_size)
        throw std::runtime_error("malformed frame: length " + std::to_string(length));
      size_t frame = 4 + size_t{length};
      if (have >= frame) {
        call_id = get_u64(buf_.data() + begin_ + 4);
        body = buf_.data() + begin_ + request_header_size;
        size = frame - request_header_size;
        pending_ = frame;
        return true;
      }
      if (buf_.size() < frame)
        buf_.resize(frame);
    }
    if (begin_ > 0) { // compact: unread bytes move to the front
      scanned_ = scanned_ > begin_ ? scanned_ - begin_ : 0;
      std::memmove(buf_.data(), buf_.data() + begin_, have);
      begin_ = 0;
      end_ = have;
    }
    // Frames that arrived while the last call ran are taken at once (one
    // syscall for all of them); only an empty socket is waited for. When the
    // socket was empty the last time (one call at a time), the wait comes
    // first: a recv that only says EAGAIN would be one syscall more per call.
    // With replies on a pipe of their own, the wait is the read itself (one
    // syscall, woken once: only the node's data wakes this socket). With
    // replies on the same socket, a read blocked on it would also be woken
    // when the node reads a reply (the socket's write-space wake-up): there
    // poll, which that wake-up skips, comes first, then read.
    ssize_t n = -1;
    int err = EAGAIN;
    if (!expect_empty_) {
      n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, MSG_DONTWAIT);
      err = n < 0 ? errno : 0;
    }
    expect_empty_ = n < 0 && (err == EAGAIN || err == EWOULDBLOCK);
    if (expect_empty_) {
      gil_released idle;
      pollfd readable{fd_, POLLIN, 0};
      // The same holds after a reply sent aside on the socket, while the
      // node reads it.
      bool poll_first = out_fd_ == fd_ || sent_aside_;
      sent_aside_ = false;
      if (poll_first && ::poll(&readable, 1, -1) < 0) {
        n = -1;
        err = errno;
      } else {
        // Blocks (the node never makes this end non-blocking); a signal
        // (SIGINT) ends it with EINTR and the loop waits again.
        n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
        err = n < 0 ? errno : 0;
      }
      // Frames queued behind this one (a pipelined caller): recv first next time.
      if (n > 0 && static_cast<size_t>(n) == buf_.size() - end_)
        expect_empty_ = false;
    }
    if (forked_child.load())
      return false;
    errno = err;
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      just_read_ = true;
      last_look_ = std::chrono::steady_clock::now();
    } else if (n == 0) {
      return false;
    } else if (errno != EINTR) {
      throw std::runtime_error(std::string{"channel read failed: "} + std::strerror(errno));
    }
  }
}

void frame_channel::scan_skips(std::set<uint64_t>& skips) {
  if (forked_child.load())
    return;
  // Take what has arrived, without blocking and without growing the buffer:
  // the frame handed out by next() points into it. Not when next() has just
  // read the socket for this frame: that read took everything there was.
  // Frames served from the buffer one after another look at the socket at
  // most every `skip_scan_interval` (one recv, not one per call); a skip
  // heard too late costs only the skipped call's work: the node has already
  // answered it and drops its reply.
  bool look = !just_read_;
  if (look) {
    auto now = std::chrono::steady_clock::now();
    look = now - last_look_ >= skip_scan_interval;
    if (look)
      last_look_ = now;
  }
  while (look && end_ < buf_.size()) {
    size_t room = buf_.size() - end_;
    ssize_t n = ::recv(fd_, buf_.data() + end_, room, MSG_DONTWAIT);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < room)
        break; // a short read took all there was: no second recv to hear EAGAIN
    } else if (!(n < 0 && errno == EINTR)) {
      break;
    }
  }
  // Each frame is looked at once: a frame already scanned was a request, or
  // its skip is in `skips` already.
  size_t pos = std::max(begin_ + pending_, scanned_);
  while (end_ - pos >= request_header_size) {
    uint32_t length = get_u32(buf_.data() + pos);
    if (length < 8 || end_ - pos < 4 + size_t{length})
      break; // malformed or incomplete: next() deals with it
    uint64_t id = get_u64(buf_.data() + pos + 4);
    if (id & skip_flag)
      skips.insert(id & ~skip_flag);
    pos += 4 + size_t{length};
  }
  scanned_ = pos;
}

bool frame_channel::frame_buffered() const {
  size_t pos = begin_ + pending_;
  if (end_ - pos < 4)
    return false;
  return end_ - pos >= 4 + size_t{get_u32(buf_.data() + pos)};
}

void frame_channel::write_all(const char* data, size_t size) {
  if (forked_child.load())
    return; // the reply of a forked child goes nowhere
  gil_released waiting;
  if (size > aside_above_)
    write_aside(data, size);
  else
    write_out(data, size);
}

void frame_channel::write_out(const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(out_fd_, data, size);
    if (n >= 0) {
      data += n;
      size -= static_cast<size_t>(n);
    } else if (errno != EINTR) {
      throw std::runtime_error(std::string{"channel write failed: "} + std::strerror(errno));
    }
  }
}

namespace {

/// A frame goes aside in pieces of at most this many bytes, each announced
/// at once: the node copies one piece out while the worker copies the next
/// one in (the two cores overlap, as when the socket woke the node at its
/// first bytes). Measured on 1 MiB replies, ratio to a 1 MiB socketpair trip
/// of the same rounds: 2.2-2.5x with 256 KiB pieces, 3.0-3.2x with 512 KiB,
/// 3.2-3.9x whole; 64 and 128 KiB pieces woke the node up to 10 times per
/// reply.
constexpr size_t aside_piece = 256 * 1024;

} // namespace

void frame_channel::write_aside(const char* data, size_t size) {
  // Every piece the socket took is announced on the pipe before the next
  // piece waits for room: the node reads a piece once it sees its marker,
  // so the socket always drains.
  static_assert(aside_piece < aside_flag);
  sent_aside_ = true;
  while (size > 0) {
    ssize_t n = ::send(fd_, data, std::min(size, aside_piece), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      char marker[4];
      put_u32(marker, aside_flag | static_cast<uint32_t>(n));
      write_out(marker, sizeof(marker));
      data += n;
      size -= static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd room{fd_, POLLOUT, 0};
      if (::poll(&room, 1, -1) < 0 && errno != EINTR)
        throw std::runtime_error(std::string{"channel poll failed: "} + std::strerror(errno));
    } else if (n < 0 && errno != EINTR) {
      throw std::runtime_error(std::string{"channel write failed: "} + std::strerror(errno));
    }
  }
}

} // namespace pyactor::worker
