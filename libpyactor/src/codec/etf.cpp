// ETF decoder and encoder for pyactor::value (see the header for tags and mapping).
#include "pyactor/codec/etf.hpp"

#include "etf_internal.hpp"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_set>

namespace pyactor::codec {

using namespace etf_detail;

namespace {

/// Most bytes deflate can produce per input byte (zlib's documented 1032:1).
constexpr size_t max_inflate_ratio = 1032;

constexpr const char* builtin_tags[] = {"datetime", "date",      "time",      "timedelta",
                                        "decimal",  "frozenset", "set",       "complex"};

/// Thrown inside the decoder; turned into an `error` at the API boundary.
struct decode_failure {
  std::string message;
};

std::string hex_byte(uint8_t b) {
  static const char digits[] = "0123456789abcdef";
  return std::string{"0x"} + digits[b >> 4] + digits[b & 15];
}

// -- decoding -----------------------------------------------------------------

/// Decodes terms from one buffer. Not thread-safe; one per call. Recursion is
/// bounded by `limits.max_depth`; list tails are joined in a loop.
class decoder {
public:
  /// Error messages give offsets plus `base`, followed by `where`.
  decoder(const uint8_t* data, size_t size, const etf_options& options, size_t base,
          const char* where)
    : data_(data), size_(size), options_(options), base_(base), where_(where) {
    // nop
  }

  size_t pos() const { return pos_; }

  value term(size_t depth) {
    if (depth > options_.limits.max_depth)
      fail(pos_, "nesting deeper than the limit of " + std::to_string(options_.limits.max_depth)
                   + " levels");
    if (++terms_ > options_.limits.max_terms)
      fail(pos_, "more than the limit of " + std::to_string(options_.limits.max_terms) + " terms");
    size_t start = pos_;
    uint8_t t = u8("a tag");
    switch (t) {
      case small_integer_ext:
        return int64_t{u8("SMALL_INTEGER_EXT")};
      case integer_ext:
        return int64_t{static_cast<int32_t>(u32("INTEGER_EXT"))};
      case small_big_ext:
        return big(u8("SMALL_BIG_EXT arity"), "SMALL_BIG_EXT");
      case large_big_ext:
        return big(u32("LARGE_BIG_EXT arity"), "LARGE_BIG_EXT");
      case new_float_ext: {
        uint64_t bits = u64("NEW_FLOAT_EXT");
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return checked_float(d, start);
      }
      case float_old_ext:
        return old_float(start);
      case atom_latin1_ext:
      case small_atom_latin1_ext:
      case atom_utf8_ext:
      case small_atom_utf8_ext: {
        pos_ = start;
        std::string name = atom_text();
        if (name.size() == 4 && name == "true")
          return true;
        if (name.size() == 5 && name == "false")
          return false;
        if (name.size() == 9 && name == "undefined")
          return none_t{};
        return atom{std::move(name)};
      }
      case binary_ext: {
        size_t n = length(u32("BINARY_EXT length"), 1, "BINARY_EXT length");
        const uint8_t* p = take(n, "BINARY_EXT");
        if (utf8_length(p, n) >= 0)
          return std::string(reinterpret_cast<const char*>(p), n);
        return bytes{std::vector<uint8_t>(p, p + n)};
      }
      case bit_binary_ext:
        return bit_binary_term(start);
      case nil_ext:
        return list{};
      case string_ext: {
        size_t n = length(u16("STRING_EXT length"), 1, "STRING_EXT length");
        count_terms(n, start);
        const uint8_t* p = take(n, "STRING_EXT");
        list out;
        out.reserve(n);
        for (size_t i = 0; i < n; ++i)
          out.emplace_back(int64_t{p[i]});
        return out;
      }
      case list_ext:
        return list_term(depth);
      case small_tuple_ext:
        return tuple_term(u8("SMALL_TUPLE_EXT arity"), depth);
      case large_tuple_ext:
        return tuple_term(u32("LARGE_TUPLE_EXT arity"), depth);
      case map_ext:
        return map_term(depth);
      case pid_old_ext:
      case new_pid_ext:
        pos_ = start;
        return opaque{etf_kind::pid, pid_bytes()};
      case port_old_ext:
      case new_port_ext:
      case v4_port_ext:
        return opaque{etf_kind::port, port_bytes(t)};
      case reference_old_ext:
      case new_reference_ext:
      case newer_reference_ext:
        return opaque{etf_kind::ref, ref_bytes(t)};
      case export_fun_ext:
        return opaque{etf_kind::fun, export_bytes()};
      case new_fun_ext:
        return opaque{etf_kind::fun, fun_bytes(start, depth)};
      case compressed_ext:
        fail(start, "a compressed term ('P') is only allowed right after the version byte");
      case 'I':
      case 'K':
        fail(start, std::string{"tag '"} + static_cast<char>(t)
                      + "' is internal to the Erlang runtime and not portable");
      case 'R':
        fail(start, "atom cache reference ('R') outside a distribution header");
      case 'D':
      case 'E':
        fail(start, "distribution header ('" + std::string(1, static_cast<char>(t))
                      + "') where a term was expected");
      case 'u':
        fail(start, "FUN_EXT ('u') was removed in OTP 23");
      default:
        fail(start, "unknown tag " + std::to_string(t) + " (" + hex_byte(t) + ")");
    }
  }

  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw decode_failure{std::string{"etf: offset "} + std::to_string(at + base_) + where_ + ": " + what};
  }

private:
  // -- reading ----------------------------------------------------------------

  const uint8_t* take(size_t n, const char* what) {
    if (n > size_ - pos_)
      truncated(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  /// The error of `take` (out of line: `take` stays small enough to inline).
  [[noreturn]] __attribute__((noinline, cold)) void truncated(size_t n, const char* what) const {
    fail(pos_, std::string{"truncated "} + what + ": needs " + std::to_string(n) + " bytes, "
                 + std::to_string(size_ - pos_) + " left");
  }

  uint8_t u8(const char* what) { return *take(1, what); }
  uint16_t u16(const char* what) { return get_u16(take(2, what)); }
  uint32_t u32(const char* what) { return get_u32(take(4, what)); }
  uint64_t u64(const char* what) {
    const uint8_t* p = take(8, what);
    return (uint64_t{get_u32(p)} << 32) | get_u32(p + 4);
  }

  /// Checks a claimed count of items of at least `min_bytes` each against the
  /// bytes left, before anything is allocated for them.
  size_t length(uint64_t n, size_t min_bytes, const char* what) {
    size_t left = size_ - pos_;
    if (n > left / min_bytes)
      fail(pos_, std::string{what} + " " + std::to_string(n) + " runs past the end of the input ("
                   + std::to_string(left) + " bytes left)");
    return static_cast<size_t>(n);
  }

  void count_terms(size_t n, size_t at) {
    if (n > options_.limits.max_terms - std::min(terms_, options_.limits.max_terms)) {
      fail(at, "more than the limit of " + std::to_string(options_.limits.max_terms) + " terms");
    }
    terms_ += n;
  }

  // -- scalars ----------------------------------------------------------------

  value big(size_t n, const char* what) {
    size_t at = pos_;
    length(n, 1, (std::string{what} + " digit count").c_str());
    uint8_t sign = u8(what);
    if (sign > 1)
      fail(at, std::string{what} + " sign byte must be 0 or 1, got " + std::to_string(sign));
    const uint8_t* le = take(n, what);
    while (n > 0 && le[n - 1] == 0)
      --n;
    if (n <= 8) {
      uint64_t m = 0;
      for (size_t i = n; i-- > 0;)
        m = (m << 8) | le[i];
      if (sign == 0 && m <= uint64_t{INT64_MAX})
        return static_cast<int64_t>(m);
      if (sign == 1 && m <= uint64_t{INT64_MAX} + 1)
        return static_cast<int64_t>(~m + 1);
    }
    // Big-endian magnitude with a zero sign byte, then negated if needed.
    std::vector<uint8_t> be(n + 1, 0);
    for (size_t i = 0; i < n; ++i)
      be[n - i] = le[i];
    if (sign == 1) {
      unsigned carry = 1;
      for (size_t i = be.size(); i-- > 0;) {
        unsigned s = static_cast<uint8_t>(~be[i]) + carry;
        be[i] = static_cast<uint8_t>(s);
        carry = s >> 8;
      }
    }
    size_t skip = 0;
    while (skip + 1 < be.size()
           && ((be[skip] == 0 && !(be[skip + 1] & 0x80)) || (be[skip] == 0xff && (be[skip + 1] & 0x80))))
      ++skip;
    be.erase(be.begin(), be.begin() + static_cast<std::ptrdiff_t>(skip));
    return big_integer{std::move(be)};
  }

  value checked_float(double d, size_t at) const {
    if (std::isnan(d))
      fail(at, "float is NaN, which Erlang cannot represent");
    if (std::isinf(d))
      fail(at, "float is infinite, which Erlang cannot represent");
    return d;
  }

  value old_float(size_t start) {
    const uint8_t* p = take(31, "FLOAT_EXT");
    size_t n = 0;
    while (n < 31 && p[n] != 0)
      ++n;
    const char* first = reinterpret_cast<const char*>(p);
    double d = 0;
    auto [end, ec] = std::from_chars(first, first + n, d);
    if (ec != std::errc{} || end != first + n || n == 0)
      fail(start, "FLOAT_EXT text '" + std::string(first, n) + "' is not a float");
    return checked_float(d, start);
  }

  /// Reads an atom of any of the four atom tags, as UTF-8.
  std::string atom_text() {
    size_t start = pos_;
    uint8_t t = u8("an atom tag");
    size_t n;
    bool utf8 = t == atom_utf8_ext || t == small_atom_utf8_ext;
    if (t == small_atom_utf8_ext || t == small_atom_latin1_ext)
      n = u8("atom length");
    else if (t == atom_utf8_ext || t == atom_latin1_ext)
      n = u16("atom length");
    else
      fail(start, "expected an atom, got tag " + std::to_string(t) + " (" + hex_byte(t) + ")");
    const uint8_t* p = take(n, "atom");
    if (!utf8) {
      if (n > 255)
        fail(start, "atom of " + std::to_string(n) + " characters (at most 255)");
      std::string out;
      out.reserve(n * 2);
      for (size_t i = 0; i < n; ++i) {
        if (p[i] < 0x80) {
          out += static_cast<char>(p[i]);
        } else {
          out += static_cast<char>(0xc0 | (p[i] >> 6));
          out += static_cast<char>(0x80 | (p[i] & 0x3f));
        }
      }
      return out;
    }
    long chars = utf8_length(p, n);
    if (chars < 0)
      fail(start, "atom is not valid UTF-8");
    if (chars > 255)
      fail(start, "atom of " + std::to_string(chars) + " characters (at most 255)");
    return std::string(reinterpret_cast<const char*>(p), n);
  }

  value bit_binary_term(size_t start) {
    size_t n = length(u32("BIT_BINARY_EXT length"), 1, "BIT_BINARY_EXT length");
    uint8_t bits = u8("BIT_BINARY_EXT bits");
    if (n == 0 ? bits != 0 : (bits < 1 || bits > 8))
      fail(start, "BIT_BINARY_EXT of " + std::to_string(n) + " bytes with " + std::to_string(bits)
                    + " bits in the last byte");
    const uint8_t* p = take(n, "BIT_BINARY_EXT");
    if (bits == 8 || n == 0) {
      if (utf8_length(p, n) >= 0)
        return std::string(reinterpret_cast<const char*>(p), n);
      return bytes{std::vector<uint8_t>(p, p + n)};
    }
    std::vector<uint8_t> out{bit_binary_ext};
    append_u32(out, static_cast<uint32_t>(n));
    out.push_back(bits);
    out.insert(out.end(), p, p + n);
    out.back() &= static_cast<uint8_t>(0xff << (8 - bits));
    return opaque{etf_kind::bitstring, std::move(out)};
  }

  // -- containers -------------------------------------------------------------

  value list_term(size_t depth) {
    list items;
    for (;;) {
      size_t n = length(u32("LIST_EXT length"), 1, "LIST_EXT length");
      if (n == 0)
        fail(pos_ - 5, "LIST_EXT of length 0 (the empty list is NIL_EXT)");
      if (items.capacity() - items.size() < n) // amortised: tails may come one by one
        items.reserve(std::max(items.size() + n, 2 * items.capacity()));
      for (size_t i = 0; i < n; ++i)
        items.push_back(term(depth + 1));
      size_t tail_at = pos_;
      uint8_t t = *take(1, "list tail");
      if (t == nil_ext)
        return items;
      if (t == list_ext)
        continue; // a tail that is a list: the same list, split
      if (t == string_ext) {
        --pos_;
        list rest = term(depth + 1).as<list>();
        items.insert(items.end(), std::make_move_iterator(rest.begin()),
                     std::make_move_iterator(rest.end()));
        return items;
      }
      pos_ = tail_at;
      break;
    }
    // Improper: the elements, then the tail, canonically.
    value tail = term(depth + 1);
    std::vector<uint8_t> out{list_ext};
    append_u32(out, static_cast<uint32_t>(items.size()));
    for (const auto& x : items)
      append_canonical(x, out, depth);
    append_canonical(tail, out, depth);
    return opaque{etf_kind::improper_list, std::move(out)};
  }

  value tuple_term(size_t n, size_t depth) {
    length(n, 1, "tuple arity");
    tuple out;
    out.items.reserve(n);
    for (size_t i = 0; i < n; ++i)
      out.items.push_back(term(depth + 1));
    return out;
  }

  value map_term(size_t depth) {
    size_t n = length(u32("MAP_EXT arity"), 2, "MAP_EXT arity");
    dict out;
    out.items.reserve(n);
    std::unordered_set<std::string> seen;
    std::vector<uint8_t> key_bytes;
    for (size_t i = 0; i < n; ++i) {
      size_t key_at = pos_;
      value k = term(depth + 1);
      if (n > 1) {
        key_bytes.clear();
        append_canonical(k, key_bytes, depth);
        if (!seen.emplace(key_bytes.begin(), key_bytes.end()).second)
          fail(key_at, "map key " + format_erlang(k) + " appears twice");
      }
      value v = term(depth + 1);
      out.items.emplace_back(std::move(k), std::move(v));
    }
    return out;
  }

  // -- pids, ports, refs, funs --------------------------------------------------

  static void append_u32(std::vector<uint8_t>& out, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8)
      out.push_back(static_cast<uint8_t>(x >> s));
  }

  static void append_atom(std::vector<uint8_t>& out, const std::string& name) {
    if (name.size() <= 255) {
      out.push_back(small_atom_utf8_ext);
      out.push_back(static_cast<uint8_t>(name.size()));
    } else {
      out.push_back(atom_utf8_ext);
      out.push_back(static_cast<uint8_t>(name.size() >> 8));
      out.push_back(static_cast<uint8_t>(name.size()));
    }
    out.insert(out.end(), name.begin(), name.end());
  }

  void append_canonical(const value& x, std::vector<uint8_t>& out, size_t depth);

  /// A pid (PID_EXT or NEW_PID_EXT at pos_) as NEW_PID_EXT.
  std::vector<uint8_t> pid_bytes() {
    size_t start = pos_;
    uint8_t t = u8("a pid tag");
    if (t != pid_old_ext && t != new_pid_ext)
      fail(start, "expected a pid, got tag " + std::to_string(t) + " (" + hex_byte(t) + ")");
    std::vector<uint8_t> out{new_pid_ext};
    append_atom(out, atom_text());
    const uint8_t* p = take(8, "pid");
    out.insert(out.end(), p, p + 8);
    append_u32(out, t == new_pid_ext ? u32("pid creation") : u8("pid creation"));
    return out;
  }

  std::vector<uint8_t> port_bytes(uint8_t t) {
    std::string node = atom_text();
    uint64_t id = t == v4_port_ext ? u64("port id") : u32("port id");
    uint32_t creation = t == port_old_ext ? u8("port creation") : u32("port creation");
    std::vector<uint8_t> out{id > 0xffffffffu ? v4_port_ext : new_port_ext};
    append_atom(out, node);
    if (id > 0xffffffffu)
      append_u32(out, static_cast<uint32_t>(id >> 32));
    append_u32(out, static_cast<uint32_t>(id));
    append_u32(out, creation);
    return out;
  }

  std::vector<uint8_t> ref_bytes(uint8_t t) {
    size_t at = pos_;
    size_t words = t == reference_old_ext ? 1 : u16("reference length");
    if (words < 1 || words > 5)
      fail(at, "reference with " + std::to_string(words) + " id words (1 to 5)");
    std::string node = atom_text();
    const uint8_t* ids = nullptr;
    if (t == reference_old_ext)
      ids = take(4, "reference");
    uint32_t creation = t == newer_reference_ext ? u32("reference creation")
                                             : u8("reference creation");
    if (t != reference_old_ext)
      ids = take(words * 4, "reference");
    std::vector<uint8_t> out{newer_reference_ext, 0, static_cast<uint8_t>(words)};
    append_atom(out, node);
    append_u32(out, creation);
    out.insert(out.end(), ids, ids + words * 4);
    return out;
  }

  std::vector<uint8_t> export_bytes() {
    std::vector<uint8_t> out{export_fun_ext};
    append_atom(out, atom_text());
    append_atom(out, atom_text());
    size_t at = pos_;
    if (u8("export arity tag") != small_integer_ext)
      fail(at, "EXPORT_EXT arity must be a SMALL_INTEGER_EXT");
    out.push_back(small_integer_ext);
    out.push_back(u8("export arity"));
    return out;
  }

  std::vector<uint8_t> small_int_bytes(const char* what) {
    size_t at = pos_;
    uint8_t t = u8(what);
    std::vector<uint8_t> out;
    if (t == small_integer_ext) {
      out = {t, u8(what)};
    } else if (t == integer_ext) {
      const uint8_t* p = take(4, what);
      int32_t x = static_cast<int32_t>(get_u32(p));
      if (x >= 0 && x <= 255)
        out = {small_integer_ext, static_cast<uint8_t>(x)};
      else
        out = {integer_ext, p[0], p[1], p[2], p[3]};
    } else {
      fail(at, std::string{what} + " must be an integer, got tag " + std::to_string(t));
    }
    return out;
  }

  std::vector<uint8_t> fun_bytes(size_t start, size_t depth) {
    uint32_t claimed = u32("NEW_FUN_EXT size");
    const uint8_t* fixed = take(1 + 16 + 4, "NEW_FUN_EXT");
    size_t free_count = length(u32("NEW_FUN_EXT free count"), 1, "NEW_FUN_EXT free count");
    std::vector<uint8_t> out{new_fun_ext, 0, 0, 0, 0};
    out.insert(out.end(), fixed, fixed + 21);
    append_u32(out, static_cast<uint32_t>(free_count));
    append_atom(out, atom_text());
    auto old_index = small_int_bytes("NEW_FUN_EXT old index");
    out.insert(out.end(), old_index.begin(), old_index.end());
    auto old_uniq = small_int_bytes("NEW_FUN_EXT old uniq");
    out.insert(out.end(), old_uniq.begin(), old_uniq.end());
    auto pid = pid_bytes();
    out.insert(out.end(), pid.begin(), pid.end());
    for (size_t i = 0; i < free_count; ++i)
      append_canonical(term(depth + 1), out, depth);
    if (claimed != pos_ - start - 1)
      fail(start, "NEW_FUN_EXT size field says " + std::to_string(claimed) + " bytes, the fun has "
                    + std::to_string(pos_ - start - 1));
    uint32_t size = static_cast<uint32_t>(out.size() - 1);
    for (int i = 0; i < 4; ++i)
      out[1 + i] = static_cast<uint8_t>(size >> (24 - 8 * i));
    return out;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t terms_ = 0;
  size_t work_ = 0;
  const etf_options& options_;
  size_t base_;
  const char* where_;
};

void decoder::append_canonical(const value& x, std::vector<uint8_t>& out, size_t depth) {
  std::string problem;
  size_t before = out.size();
  if (!encode_term(x, out, options_.limits, depth, problem, true)) // x: made by this decoder
    fail(pos_, problem);
  // Nested improper lists, funs and map keys are encoded once per level: bound
  // that work by the input's size so no input costs more than linear time.
  work_ += out.size() - before;
  if (work_ > 8 * size_ + (size_t{1} << 20))
    fail(pos_, "improper lists, funs or map keys nested in each other this much would take more "
               "than " + std::to_string(8 * size_ + (size_t{1} << 20))
                 + " bytes of re-encoding; refused");
}

/// Applies the python mapping to an exact value, in one pass that does not
/// look inside opaque terms. Not thread-safe; one per call.
class python_mapper {
public:
  python_mapper(const etf_options& options) : options_(options) {
    // nop
  }

  /// Converts `x` in place; returns true if anything changed.
  bool convert(value& x, size_t depth) {
    if (x.is<list>()) {
      bool changed = false;
      for (auto& item : x.as<list>())
        changed |= convert(item, depth + 1);
      return changed;
    }
    if (x.is<tuple>()) {
      for (auto& item : x.as<tuple>().items)
        convert(item, depth + 1);
      value mapped = python_tuple(std::move(x.as<tuple>()));
      x = std::move(mapped);
      return true; // conservatively: a tuple may have become bytes, tagged or a reference
    }
    if (x.is<dict>()) {
      auto& items = x.as<dict>().items;
      bool keys_changed = false;
      for (auto& [k, v] : items) {
        keys_changed |= convert(k, depth + 1);
        convert(v, depth + 1);
      }
      if (keys_changed && items.size() > 1)
        check_keys(items, depth);
      return keys_changed;
    }
    return false;
  }

private:
  void check_keys(const std::vector<std::pair<value, value>>& items, size_t depth) {
    std::unordered_set<std::string> seen;
    std::vector<uint8_t> key;
    for (const auto& kv : items) {
      key.clear();
      std::string problem;
      if (!encode_term(kv.first, key, options_.limits, depth, problem, true)) // made by the decoder
        throw decode_failure{"etf: " + problem};
      work_ += key.size();
      if (work_ > budget)
        throw decode_failure{"etf: map keys nested in map keys this much are too costly to check"};
      if (!seen.emplace(key.begin(), key.end()).second)
        throw decode_failure{"etf: map keys " + format_erlang(kv.first)
                             + " map to the same Python value (e.g. <<255>> and {bytes, <<255>>})"};
    }
  }

  /// The python mapping of tuples: `{bytes, Bin}`, tagged, object references.
  value python_tuple(tuple t) {
    auto& xs = t.items;
    if (xs.size() == 2) {
      if (auto a = xs[0].get_if<atom>(); a && a->name == "bytes") {
        if (auto s = xs[1].get_if<std::string>())
          return bytes{std::vector<uint8_t>(s->begin(), s->end())};
        if (xs[1].is<bytes>())
          return std::move(xs[1]);
      }
      if (auto s = xs[0].get_if<std::string>(); s && known_tag(*s))
        return make_tagged(*s, std::move(xs[1]));
    }
    if (xs.size() == 4) {
      auto a = xs[0].get_if<atom>();
      auto uid = xs[1].get_if<int64_t>();
      auto id = xs[2].get_if<int64_t>();
      auto type = xs[3].get_if<std::string>();
      if (a && a->name == etf_objref_atom && uid && id && type && *uid >= 0 && *id >= 0)
        return object_ref{static_cast<uint64_t>(*uid), static_cast<uint64_t>(*id), *type};
    }
    return t;
  }

  bool known_tag(const std::string& s) const {
    for (const char* t : builtin_tags)
      if (s == t)
        return true;
    for (const auto& t : options_.extra_tags)
      if (s == t)
        return true;
    return false;
  }

  const etf_options& options_;
  size_t work_ = 0;

public:
  size_t budget = 0;
};

/// Inflates `P` input: `claimed` bytes, never more, never more than the limit.
std::vector<uint8_t> inflate_term(const uint8_t* z, size_t n, uint32_t claimed,
                                  const etf_limits& limits, const decoder& at) {
  if (claimed > limits.max_bytes)
    at.fail(1, "compressed term claims " + std::to_string(claimed)
                 + " bytes inflated, more than the limit of " + std::to_string(limits.max_bytes));
  if (claimed / max_inflate_ratio > n)
    at.fail(1, "compressed term claims " + std::to_string(claimed) + " bytes from "
                 + std::to_string(n) + " compressed bytes, more than deflate can produce");
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK)
    at.fail(6, "zlib initialisation failed");
  std::vector<uint8_t> out;
  zs.next_in = const_cast<Bytef*>(z);
  zs.avail_in = static_cast<uInt>(std::min<size_t>(n, std::numeric_limits<uInt>::max()));
  int rc = Z_OK;
  while (rc == Z_OK) {
    size_t have = out.size();
    // Grow with what has really been inflated, one byte past the claim at most.
    size_t grow = std::min<size_t>(std::max<size_t>(have, 64 << 10), size_t{claimed} + 1 - have);
    if (grow == 0)
      break;
    out.resize(have + grow);
    zs.next_out = out.data() + have;
    zs.avail_out = static_cast<uInt>(grow);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(have + grow - zs.avail_out);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0)
      break;
  }
  size_t consumed = n - zs.avail_in;
  inflateEnd(&zs);
  if (out.size() > claimed)
    at.fail(6, "compressed term inflates to more than the " + std::to_string(claimed)
                 + " bytes it claims");
  if (rc != Z_STREAM_END)
    at.fail(6 + consumed, rc == Z_DATA_ERROR || rc == Z_NEED_DICT ? "corrupt zlib data"
                                                                 : "truncated zlib data");
  if (out.size() != claimed)
    at.fail(1, "compressed term claims " + std::to_string(claimed) + " bytes but inflates to "
                 + std::to_string(out.size()));
  if (consumed != n)
    at.fail(6 + consumed, std::to_string(n - consumed) + " bytes after the end of the zlib data");
  return out;
}

result<value> decode_whole(const uint8_t* data, size_t size, const etf_options& options,
                           size_t base, const char* where) {
  decoder dec(data, size, options, base, where);
  value v = dec.term(0);
  if (dec.pos() != size)
    dec.fail(dec.pos(), std::to_string(size - dec.pos()) + " trailing bytes after the term");
  if (options.mapping == etf_mapping::python) {
    python_mapper mapper(options);
    mapper.budget = 8 * size + (size_t{1} << 20);
    mapper.convert(v, 0);
  }
  return v;
}

} // namespace

// -- internals ------------------------------------------------------------------

long etf_detail::utf8_length(const uint8_t* s, size_t n) {
  long chars = 0;
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
    } else {
      size_t len;
      uint32_t cp;
      if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
      } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
      } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
      } else {
        return -1;
      }
      if (n - i < len)
        return -1;
      for (size_t k = 1; k < len; ++k) {
        if ((s[i + k] & 0xc0) != 0x80)
          return -1;
        cp = (cp << 6) | (s[i + k] & 0x3f);
      }
      if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
          || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
      i += len;
    }
    ++chars;
  }
  return chars;
}

result<value> etf_detail::decode_term(const uint8_t* data, size_t size,
                                      const etf_options& options) {
  try {
    return decode_whole(data, size, options, 0, "");
  } catch (decode_failure& e) {
    return make_error(errc::bad_request, std::move(e.message));
  }
}

result<std::vector<value>> etf_detail::decode_sequence(const uint8_t* data, size_t size,
                                                       const etf_options& options) {
  try {
    decoder dec(data, size, options, 0, "");
    std::vector<value> out;
    while (dec.pos() < size)
      out.push_back(dec.term(0));
    return out;
  } catch (decode_failure& e) {
    return make_error(errc::bad_request, std::move(e.message));
  }
}

result<std::vector<uint8_t>> etf_detail::canonical_opaque(const opaque& x,
                                                          const etf_limits& limits) {
  static const char* kinds[] = {etf_kind::pid,       etf_kind::port,         etf_kind::ref,
                                etf_kind::fun,       etf_kind::bitstring,    etf_kind::improper_list};
  if (std::none_of(std::begin(kinds), std::end(kinds),
                   [&](const char* k) { return x.kind == k; }))
    return make_error(errc::bad_request, "etf: opaque value of kind '" + x.kind
                                           + "' is not an Erlang term (kinds: erlang.pid, "
                                             "erlang.port, erlang.ref, erlang.fun, "
                                             "erlang.bitstring, erlang.improper_list)");
  auto v = decode_term(x.data.data(), x.data.size(), etf_options{limits, etf_mapping::exact, {}});
  const opaque* o = v ? v->get_if<opaque>() : nullptr;
  if (!o || o->kind != x.kind)
    return make_error(errc::bad_request,
                      "etf: opaque " + x.kind + " does not hold one " + x.kind + " term: "
                        + (v ? "it holds a " + v->type_name() : v.error().message));
  return o->data;
}

// -- public API ---------------------------------------------------------------------

result<value> decode_etf(const uint8_t* data, size_t size, const etf_options& options) {
  try {
    decoder top(data, size, options, 0, "");
    if (size == 0)
      top.fail(0, "empty input (expected the version byte 131)");
    if (size > options.limits.max_bytes)
      top.fail(0, "input of " + std::to_string(size) + " bytes is over the limit of "
                    + std::to_string(options.limits.max_bytes));
    if (data[0] != version_byte)
      top.fail(0, "expected the version byte 131, got " + std::to_string(data[0]));
    if (size >= 2 && data[1] == compressed_ext) {
      if (size < 6)
        top.fail(size, "truncated compressed term: needs a 4-byte size");
      auto inflated = inflate_term(data + 6, size - 6, get_u32(data + 2), options.limits, top);
      return decode_whole(inflated.data(), inflated.size(), options, 0, " of the inflated term");
    }
    return decode_whole(data + 1, size - 1, options, 1, "");
  } catch (decode_failure& e) {
    return make_error(errc::bad_request, std::move(e.message));
  }
}

} // namespace pyactor::codec
