// ETF encoder for pyactor::value: canonical, as term_to_binary(T, [{minor_version, 2}]).
#include "pyactor/codec/etf.hpp"

#include "etf_internal.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_set>

namespace pyactor::codec {

using namespace etf_detail;

namespace {

// -- encoding -----------------------------------------------------------------

/// Writes canonical ETF. Not thread-safe; one per call.
class encoder {
public:
  encoder(std::vector<uint8_t>& out, const etf_limits& limits, bool trusted_opaques)
    : out_(out), limits_(limits), trusted_opaques_(trusted_opaques) {
    // nop
  }

  /// Returns false and sets `error_` on a value ETF cannot carry.
  bool write(const value& x, size_t depth) {
    if (depth > limits_.max_depth)
      return failed("value nested deeper than the limit of " + std::to_string(limits_.max_depth)
                    + " levels");
    return std::visit([&](const auto& v) { return put(v, depth); }, x.variant());
  }

  std::string error_;

private:
  bool failed(std::string what) {
    error_ = std::move(what);
    return false;
  }

  void u8(uint8_t x) { out_.push_back(x); }
  void u32(uint32_t x) {
    for (int s = 24; s >= 0; s -= 8)
      out_.push_back(static_cast<uint8_t>(x >> s));
  }

  bool put(none_t, size_t) { return put_atom("undefined"); }
  bool put(bool x, size_t) { return put_atom(x ? "true" : "false"); }

  bool put(int64_t x, size_t) {
    bool negative = x < 0;
    uint64_t m = negative ? ~static_cast<uint64_t>(x) + 1 : static_cast<uint64_t>(x);
    uint8_t le[8];
    for (int i = 0; i < 8; ++i)
      le[i] = static_cast<uint8_t>(m >> (8 * i));
    put_integer(negative, le, 8);
    return true;
  }

  bool put(const big_integer& x, size_t) {
    std::vector<uint8_t> be = x.be_twos_complement;
    if (be.empty())
      be.push_back(0);
    bool negative = (be[0] & 0x80) != 0;
    if (negative) {
      unsigned carry = 1;
      for (size_t i = be.size(); i-- > 0;) {
        unsigned s = static_cast<uint8_t>(~be[i]) + carry;
        be[i] = static_cast<uint8_t>(s);
        carry = s >> 8;
      }
    }
    std::reverse(be.begin(), be.end());
    put_integer(negative, be.data(), be.size());
    return true;
  }

  /// Writes sign and little-endian magnitude in the smallest integer form.
  void put_integer(bool negative, const uint8_t* le, size_t n) {
    while (n > 0 && le[n - 1] == 0)
      --n;
    if (n <= 4) {
      uint64_t m = 0;
      for (size_t i = n; i-- > 0;)
        m = (m << 8) | le[i];
      if (!negative && m <= 255) {
        u8(small_integer_ext);
        u8(static_cast<uint8_t>(m));
        return;
      }
      if (m <= (negative ? uint64_t{1} << 31 : (uint64_t{1} << 31) - 1)) {
        u8(integer_ext);
        u32(static_cast<uint32_t>(negative ? ~m + 1 : m));
        return;
      }
    }
    if (n <= 255) {
      u8(small_big_ext);
      u8(static_cast<uint8_t>(n));
    } else {
      u8(large_big_ext);
      u32(static_cast<uint32_t>(n));
    }
    u8(negative ? 1 : 0);
    out_.insert(out_.end(), le, le + n);
  }

  bool put(double x, size_t) {
    if (std::isnan(x))
      return failed("float NaN cannot be represented in Erlang");
    if (std::isinf(x))
      return failed(std::string{"float "} + (x > 0 ? "inf" : "-inf")
                    + " cannot be represented in Erlang");
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    u8(new_float_ext);
    u32(static_cast<uint32_t>(bits >> 32));
    u32(static_cast<uint32_t>(bits));
    return true;
  }

  bool put_binary(const uint8_t* p, size_t n) {
    if (n > 0xffffffffu)
      return failed("binary of " + std::to_string(n) + " bytes is too large for ETF");
    u8(binary_ext);
    u32(static_cast<uint32_t>(n));
    out_.insert(out_.end(), p, p + n);
    return true;
  }

  bool put(const std::string& x, size_t) {
    return put_binary(reinterpret_cast<const uint8_t*>(x.data()), x.size());
  }
  bool put(const bytes& x, size_t) { return put_binary(x.data.data(), x.data.size()); }

  bool put(const list& xs, size_t depth) {
    if (xs.empty()) {
      u8(nil_ext);
      return true;
    }
    bool chars = xs.size() <= 0xffff;
    for (size_t i = 0; chars && i < xs.size(); ++i) {
      auto p = xs[i].get_if<int64_t>();
      chars = p && *p >= 0 && *p <= 255;
    }
    if (chars) {
      u8(string_ext);
      u8(static_cast<uint8_t>(xs.size() >> 8));
      u8(static_cast<uint8_t>(xs.size()));
      for (const auto& x : xs)
        u8(static_cast<uint8_t>(x.as<int64_t>()));
      return true;
    }
    if (xs.size() > 0xffffffffu)
      return failed("list of " + std::to_string(xs.size()) + " elements is too long for ETF");
    u8(list_ext);
    u32(static_cast<uint32_t>(xs.size()));
    for (const auto& x : xs)
      if (!write(x, depth + 1))
        return false;
    u8(nil_ext);
    return true;
  }

  bool put_tuple_header(size_t n) {
    if (n <= 255) {
      u8(small_tuple_ext);
      u8(static_cast<uint8_t>(n));
    } else if (n <= 0xffffffffu) {
      u8(large_tuple_ext);
      u32(static_cast<uint32_t>(n));
    } else {
      return failed("tuple of " + std::to_string(n) + " elements is too large for ETF");
    }
    return true;
  }

  bool put(const tuple& x, size_t depth) {
    if (!put_tuple_header(x.items.size()))
      return false;
    for (const auto& item : x.items)
      if (!write(item, depth + 1))
        return false;
    return true;
  }

  bool put(const dict& x, size_t depth) {
    if (x.items.size() > 0xffffffffu)
      return failed("dict of " + std::to_string(x.items.size()) + " keys is too large for ETF");
    u8(map_ext);
    u32(static_cast<uint32_t>(x.items.size()));
    std::unordered_set<std::string_view> seen;
    std::vector<std::pair<size_t, size_t>> spans; // key offsets in out_
    for (const auto& [k, v] : x.items) {
      size_t begin = out_.size();
      if (!write(k, depth + 1))
        return false;
      spans.emplace_back(begin, out_.size() - begin);
      if (!write(v, depth + 1))
        return false;
    }
    // out_ no longer moves: compare the keys' bytes.
    for (const auto& [begin, n] : spans) {
      std::string_view key(reinterpret_cast<const char*>(out_.data()) + begin, n);
      if (!seen.insert(key).second)
        return failed("dict has two keys that are the same Erlang term: "
                      + format_erlang(*decode_term(out_.data() + begin, n,
                                                   etf_options{limits_, etf_mapping::exact, {}})));
    }
    return true;
  }

  bool put_atom(const std::string& name) {
    long chars = utf8_length(reinterpret_cast<const uint8_t*>(name.data()), name.size());
    if (chars < 0)
      return failed("atom name is not valid UTF-8");
    if (chars > 255)
      return failed("atom '" + name.substr(0, 40) + "...' has " + std::to_string(chars)
                    + " characters (Erlang allows 255)");
    if (name.size() <= 255) {
      u8(small_atom_utf8_ext);
      u8(static_cast<uint8_t>(name.size()));
    } else {
      u8(atom_utf8_ext);
      u8(static_cast<uint8_t>(name.size() >> 8));
      u8(static_cast<uint8_t>(name.size()));
    }
    out_.insert(out_.end(), name.begin(), name.end());
    return true;
  }

  bool put(const atom& x, size_t) { return put_atom(x.name); }

  bool put(const tagged& x, size_t depth) {
    put_tuple_header(2);
    put_binary(reinterpret_cast<const uint8_t*>(x.tag.data()), x.tag.size());
    return x.payload ? write(*x.payload, depth + 1) : put_atom("undefined");
  }

  bool put(const object_ref& x, size_t depth) {
    put_tuple_header(4);
    put_atom(etf_objref_atom);
    put(big_or_int(x.worker_uid), depth + 1);
    put(big_or_int(x.object_id), depth + 1);
    return put_binary(reinterpret_cast<const uint8_t*>(x.type_name.data()), x.type_name.size());
  }

  bool put(const value& x, size_t depth) { return write(x, depth); }

  static value big_or_int(uint64_t x) { return value(static_cast<unsigned long>(x)); }

  bool put(const opaque& x, size_t) {
    if (trusted_opaques_) {
      out_.insert(out_.end(), x.data.begin(), x.data.end());
      return true;
    }
    auto canonical = canonical_opaque(x, limits_);
    if (!canonical)
      return failed(canonical.error().message);
    out_.insert(out_.end(), canonical->begin(), canonical->end());
    return true;
  }

  std::vector<uint8_t>& out_;
  const etf_limits& limits_;
  bool trusted_opaques_;
};

} // namespace

bool etf_detail::encode_term(const value& x, std::vector<uint8_t>& out, const etf_limits& limits,
                             size_t depth, std::string& problem, bool trusted_opaques) {
  encoder enc(out, limits, trusted_opaques);
  if (enc.write(x, depth))
    return true;
  problem = std::move(enc.error_);
  return false;
}

result<std::vector<uint8_t>> encode_etf(const value& x, const etf_limits& limits) {
  std::vector<uint8_t> out{version_byte};
  std::string problem;
  if (!encode_term(x, out, limits, 0, problem))
    return make_error(errc::bad_request, "etf: cannot encode " + x.type_name() + ": " + problem);
  return out;
}

bool append_etf(const value& x, std::vector<uint8_t>& out, std::string& problem,
                const etf_limits& limits) {
  auto before = out.size();
  std::string why;
  if (encode_term(x, out, limits, 0, why))
    return true;
  out.resize(before);
  problem = "etf: cannot encode " + x.type_name() + ": " + why;
  return false;
}

} // namespace pyactor::codec
