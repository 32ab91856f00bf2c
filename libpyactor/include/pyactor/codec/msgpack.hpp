// msgpack codec for pyactor::value: pure functions, no I/O (design.md "Values").
//
// Extension types (application range) carry what msgpack has no type for:
//   1 tuple   body = msgpack array of the items
//   2 atom    body = the name as raw UTF-8
//   3 bigint  body = big-endian two's complement, minimal length
//   4 tagged  body = msgpack array [tag: str, payload: value]
//   5 objref  body = msgpack array [worker_uid: uint, object_id: uint, type_name: str]
//   6 opaque  body = msgpack array [kind: str, data: bin]
// Ints in [-2^63, 2^64) travel as msgpack ints; past that as bigint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/limits.hpp"
#include "pyactor/value.hpp"

namespace pyactor::codec {

/// msgpack extension type codes used by pyactor.
enum class ext_type : int8_t {
  tuple = 1,
  atom = 2,
  bigint = 3,
  tagged = 4,
  objref = 5,
  opaque = 6,
};

/// Bounds for decoding untrusted input.
struct decode_limits {
  /// Deepest nesting of arrays, maps and extension bodies. The default
  /// takes a whole frame body: a value `limits::max_value_depth` deep inside
  /// its envelope (senders enforce the value's own limit exactly).
  size_t max_depth = limits::max_value_depth + limits::max_envelope_depth;
  /// Largest input accepted at all.
  size_t max_bytes = limits::max_frame_size;
};

/// Why a value cannot be encoded: a str, bytes, list or dict longer than
/// msgpack can say (2^32-1), or nesting deeper than `limits::max_value_depth`.
/// The message names the limit and the value's length or depth.
class encode_error : public std::length_error {
public:
  using std::length_error::length_error;
};

/// Appends the msgpack encoding of `x` to `out`. Throws `encode_error`
/// (leaving `out` as it was) when `x` cannot be encoded; recursion is
/// bounded by `limits::max_value_depth`.
void encode_msgpack(const value& x, std::vector<char>& out);

/// Returns the msgpack encoding of `x`.
std::vector<char> encode_msgpack(const value& x);

/// Decodes exactly one value that must span the whole input. Truncated,
/// malformed, too deep or oversized input, unknown extension types and
/// trailing bytes give `errc::bad_request` with the offset and the reason.
/// Never allocates more than a small multiple of `size`.
result<value> decode_msgpack(const char* data, size_t size, const decode_limits& limits = {});

inline result<value> decode_msgpack(const std::vector<char>& buf,
                                    const decode_limits& limits = {}) {
  return decode_msgpack(buf.data(), buf.size(), limits);
}

} // namespace pyactor::codec
