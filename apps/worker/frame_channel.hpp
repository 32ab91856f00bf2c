// Blocking framed I/O on the worker's end of its channel (protocol.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

namespace pyactor::worker {

/// Reads request frames from one descriptor (the node's socket) and writes
/// reply frames to another (the node's reply pipe), or both on one socket. Not
/// thread-safe; owned by the worker's main loop, which holds the GIL: every
/// blocking wait (poll, read, write) releases it, so the user's background
/// threads run while the worker is idle.
///
/// The descriptors are made close-on-exec (children started with os.system
/// or subprocess do not inherit them), and a process forked from the worker
/// (os.fork without exec) loses them at once: in the child, `next` reports
/// the end of input and `write_all` writes nothing, so only the worker serves.
/// One channel at a time per process.
class frame_channel {
public:
  /// Takes over `in_fd` (requests) and `out_fd` (replies; may be `in_fd`);
  /// throws std::runtime_error if either is not an open descriptor.
  frame_channel(int in_fd, int out_fd);
  frame_channel(const frame_channel&) = delete;
  frame_channel& operator=(const frame_channel&) = delete;
  ~frame_channel();

  /// True in a process forked from the one that opened the channel.
  static bool in_forked_child();

  /// Blocks until a whole frame is buffered and points `body`/`size` at its
  /// msgpack part (valid until the next call). Returns false at end of input.
  /// Throws std::runtime_error on a malformed length or an I/O error.
  bool next(uint64_t& call_id, const char*& body, size_t& size);

  /// Reads whatever has arrived without blocking (unless the socket was read
  /// less than `skip_scan_interval` ago) and adds the targets of the skip
  /// frames (protocol.hpp `skip_flag`) found after the current frame.
  void scan_skips(std::set<uint64_t>& skips);

  /// True when the frame after the current one is already buffered whole
  /// (the caller pipelines): the next `next` returns without a syscall.
  bool frame_buffered() const;

  /// Writes all of `data`; throws std::runtime_error when the peer is gone.
  /// A frame over `aside_threshold` goes aside on the request socket
  /// (protocol.hpp `aside_flag`) when replies have a pipe of their own.
  void write_all(const char* data, size_t size);

  /// Frames larger than this go aside; SIZE_MAX when replies share the
  /// request socket, the reply descriptor is not a pipe, or the socket's
  /// buffer holds less than the pipe.
  size_t aside_threshold() const { return aside_above_; }

private:
  void write_out(const char* data, size_t size);
  void write_aside(const char* data, size_t size);

  int fd_;     // requests come in here
  int out_fd_; // replies go out here (fd_ itself, or a pipe of their own)
  size_t aside_above_ = SIZE_MAX;
  bool sent_aside_ = false; // the last reply went on the socket: wait with poll, not read
  std::vector<char> buf_;
  size_t begin_ = 0;   // first unread byte
  size_t end_ = 0;     // one past the last buffered byte
  size_t pending_ = 0; // size of the frame handed out last, consumed on the next call
  size_t scanned_ = 0; // scan_skips has looked at the frames before this offset
  bool just_read_ = false; // next() read the socket to hand out the current frame
  bool expect_empty_ = false; // the socket was empty when next() last needed bytes
  std::chrono::steady_clock::time_point last_look_{}; // the socket was last read then
};

/// How often `scan_skips` reads the socket while frames are served from the
/// buffer (pipelined calls): at most once per this interval.
constexpr std::chrono::microseconds skip_scan_interval{50};

} // namespace pyactor::worker
