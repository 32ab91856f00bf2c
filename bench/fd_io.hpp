// Whole-buffer reads and writes on a file descriptor, retried on EINTR, for
// the benchmarks' ping-pong floors and peer pipes.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace pyactor::bench {

/// Writes all `size` bytes; false on an error (errno says which).
inline bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

/// Reads exactly `size` bytes; false at end of stream (errno 0) or on an
/// error (errno says which).
inline bool read_all(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = 0;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

} // namespace pyactor::bench
