// Builds msgpack request bodies (worker/protocol.hpp) without copying args.
#pragma once

#include <string>
#include <vector>

#include <msgpack.hpp>

#include "pyactor/codec/msgpack.hpp"
#include "pyactor/value.hpp"
#include "pyactor/worker/protocol.hpp"

namespace pyactor::client {

struct vector_sink {
  std::vector<char>* out;
  void write(const char* data, size_t size) { out->insert(out->end(), data, data + size); }
};

/// Builds one msgpack request body.
class body_builder {
public:
  body_builder(worker::op code, uint32_t params) : sink_{&body_}, pk_{sink_} {
    pk_.pack_array(params + 1);
    pk_.pack_uint8(static_cast<uint8_t>(code));
  }
  body_builder& text(const std::string& s) {
    pk_.pack_str(static_cast<uint32_t>(s.size()));
    pk_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
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
  vector_sink sink_;
  msgpack::packer<vector_sink> pk_;
};

/// Appends the msgpack encoding of `xs` as an array, without copying it into
/// a `value` first.
inline void append_array(const list& xs, std::vector<char>& out) {
  auto n = static_cast<uint32_t>(xs.size());
  if (n < 16) {
    out.push_back(static_cast<char>(0x90 | n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xdc));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(0xdd));
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>(n >> shift));
  }
  for (auto& x : xs)
    codec::encode_msgpack(x, out);
}

} // namespace pyactor::client
