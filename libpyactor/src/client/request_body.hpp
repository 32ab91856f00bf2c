// Builds msgpack request bodies (worker/protocol.hpp) without copying args.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "pyactor/codec/msgpack.hpp"
#include "pyactor/codec/msgpack_writer.hpp"
#include "pyactor/error.hpp"
#include "pyactor/limits.hpp"
#include "pyactor/value.hpp"
#include "worker/protocol.hpp"

namespace pyactor::client {

/// Builds one msgpack request body.
class body_builder {
public:
  body_builder(worker::op code, uint32_t params) : sink_{&body_}, pk_{sink_} {
    pk_.pack_array(params + 1);
    pk_.pack_uint8(static_cast<uint8_t>(code));
  }
  body_builder& text(const std::string& s) {
    pk_.pack_text(s.data(), s.size());
    return *this;
  }
  body_builder& item(const value& x) {
    codec::encode_msgpack(x, body_);
    return *this;
  }
  body_builder& args(const list& xs) {
    pk_.pack_array(static_cast<uint32_t>(xs.size()));
    for (auto& x : xs)
      codec::encode_msgpack(x, body_);
    return *this;
  }
  body_builder& kwargs(const dict& kw) {
    pk_.pack_map(static_cast<uint32_t>(kw.items.size()));
    for (auto& kv : kw.items) {
      codec::encode_msgpack(kv.first, body_);
      codec::encode_msgpack(kv.second, body_);
    }
    return *this;
  }
  body_builder& flag(bool b) {
    b ? pk_.pack_true() : pk_.pack_false();
    return *this;
  }
  /// Starts an array of `n` elements (for a batch of requests).
  body_builder& array(uint32_t n) {
    pk_.pack_array(n);
    return *this;
  }
  /// Appends bytes that already are one msgpack value (a nested request).
  body_builder& raw(const std::vector<char>& bytes) {
    body_.insert(body_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  std::vector<char> take() { return std::move(body_); }

private:
  std::vector<char> body_;
  codec::vector_sink sink_;
  codec::packer pk_;
};

/// The `bad_request` for a request body over `limits::max_body_size`, or
/// nothing: such a request is refused before it is sent.
inline std::optional<error> oversized_body(size_t size) {
  if (size <= limits::max_body_size)
    return std::nullopt;
  return make_error(errc::bad_request,
                    "the request is " + std::to_string(size) + " bytes encoded, over the limit of "
                      + std::to_string(limits::max_body_size)
                      + " bytes (pyactor::limits::max_body_size); pass big data another way, "
                        "e.g. a file path the worker reads");
}

/// Appends the msgpack encoding of `xs` as an array, without copying it into
/// a `value` first.
inline void append_array(const list& xs, std::vector<char>& out) {
  codec::vector_sink sink{&out};
  codec::packer{sink}.pack_array(static_cast<uint32_t>(xs.size()));
  for (auto& x : xs)
    codec::encode_msgpack(x, out);
}

} // namespace pyactor::client
