#include "frame_channel.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pyactor/worker/protocol.hpp"

namespace pyactor::worker {

frame_channel::frame_channel(int fd) : fd_(fd), buf_(256 * 1024) {
  // nop
}

bool frame_channel::next(uint64_t& call_id, const char*& body, size_t& size) {
  begin_ += pending_;
  pending_ = 0;
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
      std::memmove(buf_.data(), buf_.data() + begin_, have);
      begin_ = 0;
      end_ = have;
    }
    // Wait with poll, then read: a read blocked on a Unix socket is woken
    // twice per round trip (once without data); poll is woken once.
    pollfd readable{fd_, POLLIN, 0};
    if (::poll(&readable, 1, -1) < 0 && errno != EINTR)
      throw std::runtime_error(std::string{"channel poll failed: "} + std::strerror(errno));
    ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n > 0)
      end_ += static_cast<size_t>(n);
    else if (n == 0)
      return false;
    else if (errno != EINTR)
      throw std::runtime_error(std::string{"channel read failed: "} + std::strerror(errno));
  }
}

void frame_channel::scan_skips(std::set<uint64_t>& skips) {
  // Take what has arrived, without blocking and without growing the buffer:
  // the frame handed out by next() points into it.
  while (end_ < buf_.size()) {
    ssize_t n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, MSG_DONTWAIT);
    if (n > 0)
      end_ += static_cast<size_t>(n);
    else if (!(n < 0 && errno == EINTR))
      break;
  }
  size_t pos = begin_ + pending_;
  while (end_ - pos >= request_header_size) {
    uint32_t length = get_u32(buf_.data() + pos);
    if (length < 8 || end_ - pos < 4 + size_t{length})
      break; // malformed or incomplete: next() deals with it
    uint64_t id = get_u64(buf_.data() + pos + 4);
    if (id & skip_flag)
      skips.insert(id & ~skip_flag);
    pos += 4 + size_t{length};
  }
}

void frame_channel::write_all(const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd_, data, size);
    if (n >= 0) {
      data += n;
      size -= static_cast<size_t>(n);
    } else if (errno != EINTR) {
      throw std::runtime_error(std::string{"channel write failed: "} + std::strerror(errno));
    }
  }
}

} // namespace pyactor::worker
