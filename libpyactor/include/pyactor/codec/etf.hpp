// Erlang external term format (ETF) codec for pyactor::value: pure functions,
// no I/O (design.md "Values", erlang-bridge.md §3, §7).
//
// Decoding accepts every tag OTP 25 writes, plus the old forms, and checks
// every length against the bytes that are really there before it allocates:
//   integers   SMALL_INTEGER `a`, INTEGER `b`, SMALL_BIG `n`, LARGE_BIG `o`
//   floats     NEW_FLOAT `F`, old FLOAT_EXT `c` (NaN and infinities refused)
//   atoms      SMALL_ATOM_UTF8 `w`, ATOM_UTF8 `v`, latin1 SMALL_ATOM `s`, ATOM `d`
//              (strict UTF-8, at most 255 characters)
//   binaries   BINARY `m`, BIT_BINARY `M`
//   lists      NIL `j`, STRING `k`, LIST `l` (tails that are lists are joined)
//   tuples     SMALL_TUPLE `h`, LARGE_TUPLE `i`; maps MAP `t` (duplicate keys refused)
//   pids etc.  NEW_PID `X`, NEW_PORT `Y`, V4_PORT `x`, NEWER_REFERENCE `Z`, and the
//              old PID `g`, PORT `f`, NEW_REFERENCE `r`, REFERENCE `e`
//   funs       NEW_FUN `p`, EXPORT `q`
//   compressed `P` right after the version byte (zlib; the claimed size is
//              checked against the limit before inflating, and inflating stops
//              at the first byte past the claim)
// Refused: ERTS-internal `I`/`K`, atom cache refs `R`, distribution headers,
// the pre-OTP-23 FUN_EXT `u`, LIST_EXT of length 0, trailing bytes.
//
// Value mapping (`etf_mapping::python`, what the gateway uses):
//   true/false <-> bool, undefined <-> None, other atoms <-> atom,
//   binary <-> str when valid UTF-8, else bytes; `{bytes, Bin}` -> bytes,
//   list <-> list, tuple <-> tuple, map <-> dict (key order kept), integers of
//   any size <-> int64_t / big_integer, float <-> double,
//   `{<<"date">>, Payload}` <-> tagged (for the built-in tags of
//   python/pyactor/_builtin_encoders.py and `etf_options::extra_tags`),
//   `{'$pyactor_ref', WorkerUid, ObjectId, <<"TypeName">>}` <-> object_ref,
//   pids, ports, refs, funs, bitstrings and improper lists -> opaque, whose
//   `kind` is one of the `etf_kind` names and whose `data` is the term's
//   canonical encoding (without the version byte). Encoding an opaque writes
//   `data` back after checking that it is one well-formed term of its kind.
// `etf_mapping::exact` keeps `{bytes, Bin}`, tagged-looking and
// `'$pyactor_ref'` tuples as plain tuples; then decode is one-to-one on terms.
// The python mapping is applied after an exact decode, in one pass; map keys
// that become equal by it (`<<255>>` and `{bytes, <<255>>}`) are an error.
// Work is linear in the input: nested improper lists, funs and map keys are
// re-encoded once per level, and that re-encoding is bounded by 8x the input
// (plus 1 MiB); past it the term is refused.
//
// Encoding is canonical: exactly `term_to_binary(T, [{minor_version, 2}])`
// (no compression). Round trips are byte-exact for canonical input, with
// these deliberate many-to-one cases:
//   - non-canonical input is re-encoded canonically: old pid/port/ref forms,
//     latin1 atoms, FLOAT_EXT, INTEGER/big forms of small integers, LIST_EXT
//     of small integers (vs STRING_EXT), lists split across tails, BIT_BINARY
//     with 8 bits or with unused bits set, compressed input;
//   - in the python mapping, `{bytes, Bin}` decodes to bytes and comes back
//     as the bare binary `Bin`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor::codec {

/// Bounds for decoding untrusted input (and for encoding values).
struct etf_limits {
  /// Deepest nesting of lists, tuples, maps and funs; the decoder and the
  /// encoder recurse at most this deep (a test proves 8 MiB of stack is plenty).
  size_t max_depth = 1000;
  /// Largest input, and largest inflated size of compressed input.
  size_t max_bytes = size_t{64} << 20;
  /// Most terms in one input (each list element, tuple item, key, ...).
  size_t max_terms = size_t{1} << 22;
};

/// How terms map to values; see the file comment.
enum class etf_mapping : uint8_t {
  /// design.md "Values": `{bytes, Bin}`, tagged tuples and object references.
  python,
  /// One value per term: those tuples stay tuples.
  exact,
};

/// Options of `decode_etf`.
struct etf_options {
  etf_limits limits;
  etf_mapping mapping = etf_mapping::python;
  /// Tags recognised in `{<<"tag">>, Payload}` besides the built-in ones
  /// (datetime, date, time, timedelta, decimal, set, frozenset, complex).
  std::vector<std::string> extra_tags;
};

/// The `opaque::kind` names of Erlang terms that Python cannot represent.
namespace etf_kind {
constexpr const char* pid = "erlang.pid";
constexpr const char* port = "erlang.port";
constexpr const char* ref = "erlang.ref";
/// NEW_FUN_EXT and EXPORT_EXT (`fun m:f/a`).
constexpr const char* fun = "erlang.fun";
/// A binary whose bit count is not a multiple of 8.
constexpr const char* bitstring = "erlang.bitstring";
/// A list whose tail is not `[]`, e.g. OTP 24's `[alias | Mref]` call tags.
constexpr const char* improper_list = "erlang.improper_list";
} // namespace etf_kind

/// The first element of the tuple an object_ref travels as.
constexpr const char* etf_objref_atom = "$pyactor_ref";

/// Decodes one term: the version byte 131, then a term (or `P` and a
/// compressed term) spanning all of the input. Errors are `errc::bad_request`
/// naming the offset and what was wrong, e.g. "etf: offset 7: BINARY_EXT length
/// 4294967295 runs past the end of the input (3 bytes left)".
result<value> decode_etf(const uint8_t* data, size_t size, const etf_options& options = {});

inline result<value> decode_etf(const std::vector<uint8_t>& buf, const etf_options& options = {}) {
  return decode_etf(buf.data(), buf.size(), options);
}

/// Returns the canonical encoding of `x`, version byte included. Errors are
/// `errc::bad_request` naming the value: NaN or infinite floats, atoms over 255
/// characters or not UTF-8, an opaque of unknown kind or malformed data,
/// duplicate dict keys, nesting past `limits.max_depth`.
result<std::vector<uint8_t>> encode_etf(const value& x, const etf_limits& limits = {});

/// Appends the encoding of `x` to `out` without the version byte (as the
/// inner term of a larger one): the bytes `encode_etf` gives after its
/// first. False on the errors `encode_etf` names (`problem` says which);
/// `out` then has its old size again.
bool append_etf(const value& x, std::vector<uint8_t>& out, std::string& problem,
                const etf_limits& limits = {});

/// Returns `x` in Erlang syntax as the term it encodes to: `{ok,<<"text">>}`,
/// `[1,2,3]`, `#{a => 1.5}`, `fun lists:map/2`, `[a|b]`, `<<5:3>>`. Pids, ports,
/// refs and closures, which have no Erlang literal, print like the shell does,
/// with the node name: `#Pid<'a@host'.85.0>`, `#Ref<'a@host'.1.2.3>`,
/// `#Port<'a@host'.5>`, `#Fun<erl_eval.42.11283>`.
std::string format_erlang(const value& x);

} // namespace pyactor::codec
