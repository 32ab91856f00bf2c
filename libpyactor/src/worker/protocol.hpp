// The framed protocol between a worker actor and its `pyactor-worker` process.
//
// Both directions carry frames on one Unix stream socket:
//   u32 little-endian length of everything after it
//   u64 little-endian call id
//   request: msgpack array [op, params...]      (see `op` for the params)
//   reply:   u8 status, then one msgpack value  (ok: the result; otherwise
//            the array [python_type, message, traceback])
// The worker answers requests in order. Its first frame, unasked, is the
// ready frame: call id 0, status ok, payload = the `versions` map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "pyactor/limits.hpp"

namespace pyactor::worker {

/// Operations a worker process understands, with their msgpack params.
enum class op : uint8_t {
  /// [] -> "pong"
  ping = 0,
  /// [module: str, name: str (may be dotted), args: array, kwargs: map, by_ref: bool]
  /// by_ref (optional, default false) returns an object reference even when
  /// the result has a by-value encoding.
  func = 1,
  /// [module: str, name: str, cast: "" | "int" | "float" | "str"]
  constant = 2,
  /// [module: str, class: str (may be dotted), args: array, kwargs: map, by_ref: bool]
  init = 3,
  /// [target: value, name: str, args: array, kwargs: map, by_ref: bool]
  method = 4,
  /// [target: value, name: str]
  attr = 5,
  /// [code: str, locals: map] -> value of the expression
  eval = 6,
  /// [code: str] -> None; runs in the worker's persistent namespace
  exec = 7,
  /// [object ids: array of uint] -> number released
  release = 8,
  /// [] -> map of versions and the worker's pid
  versions = 9,
  /// [module: str, name: str, items: array, kwargs: map, star: bool]
  /// Each item is an argument array (star true) or the one argument (star
  /// false). -> [results: array, statuses: bin], one result and one status
  /// byte per item, in order; a failed item's result is [python_type,
  /// message, traceback]. The function is resolved once; a KeyboardInterrupt
  /// stops the whole map.
  map = 10,
  /// [requests: array of [op, params...]] -> array of entries [status,
  /// payload], one per request (no map or batch inside a batch).
  batch = 11,
};

// An entry of a batch reply is [status, payload]: payload is the result for
// status ok, else [python_type, message, traceback].

/// Reply status byte.
enum class status : uint8_t {
  ok = 0,
  python_exception = 1,
  bad_request = 2,
  stale_ref = 3,
  cross_worker_ref = 4,
  /// The worker's table of live objects is full.
  overloaded = 5,
};

/// A request frame whose call id has this bit set, with no body, tells the
/// worker to skip the call with the rest of the id if it has not started it
/// (the call was cancelled or timed out while waiting in the pipeline). The
/// worker answers a skipped call with status bad_request.
constexpr uint64_t skip_flag = uint64_t{1} << 63;

/// Replies larger than the reply pipe holds travel aside, on the request
/// socket, so that the worker never waits for the node to drain the pipe in
/// the middle of a frame (unprivileged, a pipe holds at most
/// /proc/sys/fs/pipe-max-size, 1 MiB by default). The worker sends what the
/// socket takes now and then writes to the pipe a 4-byte marker, the u32
/// `aside_flag | n`: the next n bytes of the reply stream are on the socket,
/// already there. It writes nothing else to the pipe until the frame sent
/// aside is whole, so the pipe keeps the order of the replies.
constexpr uint32_t aside_flag = uint32_t{1} << 31;

/// Bytes before the msgpack part of a request frame: length + call id.
constexpr size_t request_header_size = 4 + 8;

/// Bytes before the msgpack part of a reply frame: length + call id + status.
constexpr size_t reply_header_size = 4 + 8 + 1;

/// Largest frame either side accepts; a bigger length is a protocol error.
/// Senders check `limits::max_body_size` before they build a frame.
constexpr uint32_t max_frame_size = limits::max_frame_size;
static_assert(max_frame_size < aside_flag, "a frame length must never look like a marker");

inline void put_u32(char* p, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<char>((x >> (8 * i)) & 0xff);
}

inline void put_u64(char* p, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<char>((x >> (8 * i)) & 0xff);
}

inline uint32_t get_u32(const char* p) {
  uint32_t x = 0;
  for (int i = 3; i >= 0; --i)
    x = (x << 8) | static_cast<uint8_t>(p[i]);
  return x;
}

inline uint64_t get_u64(const char* p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = (x << 8) | static_cast<uint8_t>(p[i]);
  return x;
}

/// Writes the length field of a frame whose bytes start at `frame_start`
/// within `buf` and run to the end of `buf`. Throws std::length_error for a
/// frame over `max_frame_size` (never truncates the length to 32 bits);
/// senders refuse such a body before, with `bad_request`.
inline void seal_frame(std::vector<char>& buf, size_t frame_start) {
  size_t length = buf.size() - frame_start - 4;
  if (length > max_frame_size)
    throw std::length_error("frame of " + std::to_string(length) + " bytes over the limit of "
                            + std::to_string(max_frame_size) + " (pyactor::limits::max_frame_size)");
  put_u32(buf.data() + frame_start, static_cast<uint32_t>(length));
}

} // namespace pyactor::worker
