// Internals shared by the ETF decoder, encoder and printer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pyactor/codec/etf.hpp"

namespace pyactor::codec::etf_detail {

/// ETF tags (erts/emulator/beam/external.h).
enum tag : uint8_t {
  version_byte = 131,
  compressed_ext = 'P',
  small_integer_ext = 'a',
  integer_ext = 'b',
  float_old_ext = 'c',
  new_float_ext = 'F',
  atom_latin1_ext = 'd',
  small_atom_latin1_ext = 's',
  atom_utf8_ext = 'v',
  small_atom_utf8_ext = 'w',
  reference_old_ext = 'e',
  new_reference_ext = 'r',
  newer_reference_ext = 'Z',
  port_old_ext = 'f',
  new_port_ext = 'Y',
  v4_port_ext = 'x',
  pid_old_ext = 'g',
  new_pid_ext = 'X',
  small_tuple_ext = 'h',
  large_tuple_ext = 'i',
  nil_ext = 'j',
  string_ext = 'k',
  list_ext = 'l',
  binary_ext = 'm',
  bit_binary_ext = 'M',
  small_big_ext = 'n',
  large_big_ext = 'o',
  new_fun_ext = 'p',
  export_fun_ext = 'q',
  map_ext = 't',
};

/// Decodes one term without version byte that spans `data[0, size)`, in the
/// given mapping. Throws nothing; errors name offsets within `data`.
result<value> decode_term(const uint8_t* data, size_t size, const etf_options& options);

/// Decodes consecutive terms without version byte until the end of `data`.
result<std::vector<value>> decode_sequence(const uint8_t* data, size_t size,
                                           const etf_options& options);

/// Checks that `x.data` is one canonical-izable term of kind `x.kind`; returns
/// its canonical bytes or an error naming the kind.
result<std::vector<uint8_t>> canonical_opaque(const opaque& x, const etf_limits& limits);

/// Appends the canonical encoding of `x` (no version byte) to `out`; false
/// with `problem` set on a value ETF cannot carry. Recurses at most
/// `limits.max_depth - depth` levels. With `trusted_opaques` (for values the
/// decoder itself just made, whose opaque data is canonical already) opaque
/// data is copied as it is instead of being decoded again: re-checking them
/// at every level of nested improper lists would cost exponential time.
bool encode_term(const value& x, std::vector<uint8_t>& out, const etf_limits& limits, size_t depth,
                 std::string& problem, bool trusted_opaques = false);

/// Returns the number of code points of strict UTF-8 `s`, or -1 if invalid.
long utf8_length(const uint8_t* s, size_t n);

inline uint32_t get_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

inline uint16_t get_u16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

} // namespace pyactor::codec::etf_detail
