// The msgpack-c packer every pyactor encoder writes with: it appends to a
// std::vector<char> and writes doubles as float64 always.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <msgpack.hpp>

namespace pyactor::codec {

/// The msgpack-c stream: appends to a vector.
struct vector_sink {
  std::vector<char>* out;
  void write(const char* data, size_t size) {
    // A large blob leaves room for the few bytes that follow it (the rest of
    // a request): they must not move the whole body again.
    if (out->capacity() - out->size() < size)
      out->reserve(std::max(out->capacity() * 2, out->size() + size + 256));
    out->insert(out->end(), data, data + size);
  }
};

/// Appends `x` as msgpack float64. Not msgpack-c's pack_double: Debian's
/// msgpack-c 4.1.3 writes integral doubles (42.0, -0.0) as ints, and Python
/// would read them back as int.
inline void append_float64(std::vector<char>& out, double x) {
  uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof(bits));
  char buf[9];
  buf[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i)
    buf[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
  out.insert(out.end(), buf, buf + sizeof(buf));
}

/// msgpack::packer over a vector_sink, plus `pack_float64`.
class packer : public msgpack::packer<vector_sink> {
public:
  explicit packer(vector_sink& sink) : msgpack::packer<vector_sink>(sink), sink_(sink) {}

  void pack_float64(double x) { append_float64(*sink_.out, x); }

  void pack_text(const char* data, size_t size) {
    pack_str(static_cast<uint32_t>(size));
    pack_str_body(data, static_cast<uint32_t>(size));
  }

private:
  vector_sink& sink_;
};

} // namespace pyactor::codec
