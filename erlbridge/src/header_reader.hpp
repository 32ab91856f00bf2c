// A bounds-checked reader of the few term forms that message headers hold
// (atoms, pids, refs, small integers, OTP 24's `[alias | Mref]` call tags),
// shared by the `$gen_call` and batch parsers of protocol*.cpp. Internal to
// the protocol library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor::erlbridge::detail {

constexpr uint8_t codec_version = 131;
constexpr uint8_t small_integer_ext = 97;
constexpr uint8_t integer_ext = 98;
constexpr uint8_t atom_ext = 100;
constexpr uint8_t reference_ext = 101;
constexpr uint8_t pid_ext = 103;
constexpr uint8_t small_tuple_ext = 104;
constexpr uint8_t nil_ext = 106;
constexpr uint8_t list_ext = 108;
constexpr uint8_t new_pid_ext = 88;
constexpr uint8_t newer_reference_ext = 90;
constexpr uint8_t new_reference_ext = 114;
constexpr uint8_t small_atom_ext = 115;
constexpr uint8_t atom_utf8_ext = 118;
constexpr uint8_t binary_ext = 109;
constexpr uint8_t small_atom_utf8_ext = 119;

/// Bounds-checked reader of the few term forms a `$gen_call` header holds
/// (atoms, pids, refs, OTP 24's `[alias | Mref]` tag), so that `From` and
/// `Tag` are located without decoding the request. Each `skip_*` returns the
/// offset after the term, or 0 if the bytes are not that form.
struct header_reader {
  const uint8_t* d;
  size_t n;

  uint32_t be(size_t at, size_t width) const {
    uint32_t x = 0;
    for (size_t i = 0; i < width; ++i)
      x = (x << 8) | d[at + i];
    return x;
  }

  /// An atom; `text` gets its bytes.
  size_t skip_atom(size_t at, std::string* text = nullptr) const {
    if (at >= n)
      return 0;
    size_t len = 0;
    size_t body = 0;
    auto tag = d[at];
    if ((tag == small_atom_utf8_ext || tag == small_atom_ext) && at + 2 <= n) {
      len = d[at + 1];
      body = at + 2;
    } else if ((tag == atom_utf8_ext || tag == atom_ext) && at + 3 <= n) {
      len = be(at + 1, 2);
      body = at + 3;
    } else {
      return 0;
    }
    if (len > n - body)
      return 0;
    if (text != nullptr)
      text->assign(reinterpret_cast<const char*>(d + body), len);
    return body + len;
  }

  size_t skip_pid(size_t at) const {
    if (at >= n || (d[at] != new_pid_ext && d[at] != pid_ext))
      return 0;
    auto end = skip_atom(at + 1);
    size_t tail = d[at] == new_pid_ext ? 12 : 9;
    return end == 0 || tail > n - end ? 0 : end + tail;
  }

  size_t skip_ref(size_t at) const {
    if (at + 3 > n)
      return 0;
    if (d[at] == reference_ext) {
      auto end = skip_atom(at + 1);
      return end == 0 || 5 > n - end ? 0 : end + 5;
    }
    if (d[at] != newer_reference_ext && d[at] != new_reference_ext)
      return 0;
    size_t words = be(at + 1, 2);
    auto end = skip_atom(at + 3);
    size_t tail = (d[at] == newer_reference_ext ? 4 : 1) + 4 * words;
    return end == 0 || words > 5 || tail > n - end ? 0 : end + tail;
  }

  /// An atom, small integer, pid or ref.
  size_t skip_simple(size_t at) const {
    if (at >= n)
      return 0;
    if (d[at] == small_integer_ext)
      return at + 2 <= n ? at + 2 : 0;
    if (d[at] == nil_ext)
      return at + 1;
    if (auto e = skip_atom(at))
      return e;
    if (auto e = skip_pid(at))
      return e;
    return skip_ref(at);
  }

  /// A call tag: a ref, or a short list of simple terms such as [alias | Mref].
  size_t skip_tag(size_t at) const {
    if (at < n && d[at] == list_ext) {
      if (at + 5 > n)
        return 0;
      auto len = be(at + 1, 4);
      if (len == 0 || len > 8)
        return 0;
      auto pos = at + 5;
      for (uint32_t i = 0; i <= len && pos != 0; ++i) // elements, then the tail
        pos = skip_simple(pos);
      return pos;
    }
    return skip_simple(at);
  }
};

/// The reply's error term for `e`: `{python, Type, Message, Traceback}` or
/// `{pyactor, Code, Message}`.
value error_term(const error& e);

/// `{error, Reason}`.
value error_reply(value reason);

} // namespace pyactor::erlbridge::detail
