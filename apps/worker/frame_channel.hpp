// Blocking framed I/O on the worker's end of its channel (protocol.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

namespace pyactor::worker {

/// Reads request frames and writes reply frames on one socket. Not
/// thread-safe; owned by the worker's main loop.
class frame_channel {
public:
  explicit frame_channel(int fd);

  /// Blocks until a whole frame is buffered and points `body`/`size` at its
  /// msgpack part (valid until the next call). Returns false at end of input.
  /// Throws std::runtime_error on a malformed length or an I/O error.
  bool next(uint64_t& call_id, const char*& body, size_t& size);

  /// Reads whatever has arrived without blocking and adds the targets of
  /// the skip frames (protocol.hpp `skip_flag`) found after the current frame.
  void scan_skips(std::set<uint64_t>& skips);

  /// Writes all of `data`; throws std::runtime_error when the peer is gone.
  void write_all(const char* data, size_t size);

private:
  int fd_;
  std::vector<char> buf_;
  size_t begin_ = 0;   // first unread byte
  size_t end_ = 0;     // one past the last buffered byte
  size_t pending_ = 0; // size of the frame handed out last, consumed on the next call
};

} // namespace pyactor::worker
