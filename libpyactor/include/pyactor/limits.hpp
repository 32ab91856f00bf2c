// The limits every side of pyactor agrees on: the node, the worker process
// (apps/worker), the CLI. Include this header instead of repeating a number.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyactor::limits {

/// Largest frame between a node and a worker process, counted after the
/// frame's 4-byte length field (call id, status byte and msgpack body).
/// Neither side sends a bigger frame: the sender answers the call with
/// `bad_request` naming this limit and the size instead.
constexpr uint32_t max_frame_size = uint32_t{1} << 30;

/// Bytes of a frame that are not the msgpack body: the call id (8) and, in
/// a reply, the status byte (1).
constexpr size_t frame_overhead = 8 + 1;

/// Largest msgpack body of a request or a reply.
constexpr size_t max_body_size = max_frame_size - frame_overhead;

/// Deepest nesting of one value (an argument, a keyword value, a map item, a
/// result). Each list, tuple, dict and tagged payload is one level; a scalar
/// (None, bool, int, float, str, bytes, atom, object reference, opaque) is
/// level 0, so `[]` and `[1]` are 1 deep and `[[1]]` 2 deep. A value exactly
/// `max_value_depth` deep travels; one level more is refused by its sender
/// with `bad_request` naming this limit. The request and reply envelopes
/// around a value (the [op, ...] array, the arguments array, a map reply's
/// [results, statuses]) do not count.
constexpr size_t max_value_depth = 100;

/// Levels of envelope a decoder of whole frames allows on top of
/// `max_value_depth`: a request's [op, module, name, args, kwargs] holds an
/// argument 2 levels down, a map request's items array 2, a batch request's
/// arguments 4; a map reply's results 2.
constexpr size_t max_envelope_depth = 4;

} // namespace pyactor::limits
