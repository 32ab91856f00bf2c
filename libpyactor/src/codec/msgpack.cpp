// msgpack codec for pyactor::value, built on msgpack-c (see the header for the ext layouts).
#include "pyactor/codec/msgpack.hpp"

#include "pyactor/codec/msgpack_writer.hpp"

#include <msgpack.hpp>

#include "pyactor/limits.hpp"

#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace pyactor::codec {

namespace {

/// Largest length msgpack can express for a str, bin, ext, array or map.
constexpr size_t max_msgpack_length = 0xffffffffu;

/// Returns how many leading bytes of a big-endian two's complement number are
/// redundant sign bytes.
size_t redundant_sign_bytes(const uint8_t* be, size_t size) {
  size_t skip = 0;
  while (skip + 1 < size) {
    bool redundant_zero = be[skip] == 0x00 && (be[skip + 1] & 0x80) == 0;
    bool redundant_ones = be[skip] == 0xff && (be[skip + 1] & 0x80) != 0;
    if (!redundant_zero && !redundant_ones)
      break;
    ++skip;
  }
  return skip;
}

/// Reads up to 8 big-endian two's complement bytes as int64, sign-extended.
int64_t read_int64(const uint8_t* be, size_t size) {
  uint64_t x = (size > 0 && (be[0] & 0x80) != 0) ? ~uint64_t{0} : 0;
  for (size_t i = 0; i < size; ++i)
    x = (x << 8) | be[i];
  return static_cast<int64_t>(x);
}

uint64_t read_uint64(const uint8_t* be, size_t size) {
  uint64_t x = 0;
  for (size_t i = 0; i < size; ++i)
    x = (x << 8) | be[i];
  return x;
}

const char* ext_name(int8_t type) {
  switch (static_cast<ext_type>(type)) {
    case ext_type::tuple:
      return "tuple";
    case ext_type::atom:
      return "atom";
    case ext_type::bigint:
      return "bigint";
    case ext_type::tagged:
      return "tagged";
    case ext_type::objref:
      return "objref";
    case ext_type::opaque:
      return "opaque";
  }
  return "unknown";
}

// -- encoding -----------------------------------------------------------------

/// Collects an ext header (at most 6 bytes) on the stack.
struct header_sink {
  char data[8];
  size_t size = 0;
  void write(const char* bytes, size_t n) {
    std::memcpy(data + size, bytes, n);
    size += n;
  }
};

/// Writes one value through a msgpack::packer. Not thread-safe; one per call.
class encoder {
public:
  explicit encoder(std::vector<char>& out) : out_(out), sink_{&out}, pk_(sink_) {
    // nop
  }

  void encode(const value& x) { std::visit(*this, x.variant()); }

  /// Thrown past `limits::max_value_depth`; encode_msgpack names the depth.
  struct too_deep {};

  // -- one overload per alternative, for std::visit ------------------------

  void operator()(none_t) { pk_.pack_nil(); }

  void operator()(bool x) {
    if (x)
      pk_.pack_true();
    else
      pk_.pack_false();
  }

  void operator()(int64_t x) { pk_.pack_int64(x); }

  void operator()(const big_integer& x) {
    const auto* be = x.be_twos_complement.data();
    size_t size = x.be_twos_complement.size();
    size_t skip = redundant_sign_bytes(be, size);
    be += skip;
    size -= skip;
    if (size <= 8) {
      pk_.pack_int64(read_int64(be, size)); // not canonical, but fits
    } else if (size == 9 && be[0] == 0x00) {
      pk_.pack_uint64(read_uint64(be + 1, 8)); // [2^63, 2^64): a plain int for Python
    } else {
      check_length(size, "bigint");
      pk_.pack_ext(size, static_cast<int8_t>(ext_type::bigint));
      pk_.pack_ext_body(reinterpret_cast<const char*>(be), static_cast<uint32_t>(size));
    }
  }

  void operator()(double x) { append_float64(out_, x); }

  void operator()(const std::string& x) { pack_str(x); }

  void operator()(const bytes& x) { pack_bin(x.data); }

  void operator()(const list& x) {
    level guard{*this};
    pack_items(x);
  }

  void operator()(const tuple& x) {
    level guard{*this};
    write_ext(ext_type::tuple, [&] { pack_items(x.items); });
  }

  void operator()(const dict& x) {
    level guard{*this};
    check_length(x.items.size(), "dict");
    pk_.pack_map(static_cast<uint32_t>(x.items.size()));
    for (const auto& [key, val] : x.items) {
      encode(key);
      encode(val);
    }
  }

  void operator()(const atom& x) {
    check_length(x.name.size(), "atom");
    pk_.pack_ext(x.name.size(), static_cast<int8_t>(ext_type::atom));
    pk_.pack_ext_body(x.name.data(), static_cast<uint32_t>(x.name.size()));
  }

  void operator()(const tagged& x) {
    level guard{*this};
    write_ext(ext_type::tagged, [&] {
      pk_.pack_array(2);
      pack_str(x.tag);
      if (x.payload)
        encode(*x.payload);
      else
        pk_.pack_nil();
    });
  }

  void operator()(const object_ref& x) {
    write_ext(ext_type::objref, [&] {
      pk_.pack_array(3);
      pk_.pack_uint64(x.worker_uid);
      pk_.pack_uint64(x.object_id);
      pack_str(x.type_name);
    });
  }

  void operator()(const opaque& x) {
    write_ext(ext_type::opaque, [&] {
      pk_.pack_array(2);
      pack_str(x.kind);
      pack_bin(x.data);
    });
  }

private:
  /// One level of nesting (list, tuple, dict, tagged payload) while alive.
  struct level {
    encoder& enc;
    explicit level(encoder& e) : enc(e) {
      if (++enc.depth_ > limits::max_value_depth) {
        --enc.depth_;
        throw too_deep{};
      }
    }
    ~level() { --enc.depth_; }
  };

  /// Refuses a str, bytes or ext body that would take the encoding past
  /// `limits::max_body_size` before copying it (nothing that big is sent).
  void check_room(size_t n, const char* what) const {
    if (out_.size() + n > limits::max_body_size)
      throw encode_error(std::string{"the request is over the limit of "}
                         + std::to_string(limits::max_body_size)
                         + " bytes (pyactor::limits::max_body_size): it holds a " + what + " of "
                         + std::to_string(n) + " bytes; pass big data another way, e.g. a file "
                         "path the worker reads");
  }

  static void check_length(size_t n, const char* what) {
    if (n > max_msgpack_length)
      throw encode_error(std::string{"msgpack: "} + what + " of " + std::to_string(n)
                              + " exceeds the msgpack limit of 2^32-1");
  }

  void pack_str(const std::string& x) {
    check_length(x.size(), "str");
    check_room(x.size(), "str");
    pk_.pack_str(static_cast<uint32_t>(x.size()));
    pk_.pack_str_body(x.data(), static_cast<uint32_t>(x.size()));
  }

  void pack_bin(const std::vector<uint8_t>& x) {
    check_length(x.size(), "bytes");
    check_room(x.size(), "bytes");
    pk_.pack_bin(static_cast<uint32_t>(x.size()));
    pk_.pack_bin_body(reinterpret_cast<const char*>(x.data()), static_cast<uint32_t>(x.size()));
  }

  void pack_items(const std::vector<value>& xs) {
    check_length(xs.size(), "list");
    pk_.pack_array(static_cast<uint32_t>(xs.size()));
    for (const auto& x : xs)
      encode(x);
  }

  /// Encodes the body in place, then slides the ext header in front of it:
  /// one memmove of the body instead of a temporary buffer.
  template <class BodyWriter>
  void write_ext(ext_type type, BodyWriter&& body) {
    size_t start = out_.size();
    body();
    size_t size = out_.size() - start;
    check_length(size, ext_name(static_cast<int8_t>(type)));
    header_sink header;
    msgpack::packer<header_sink>{header}.pack_ext(size, static_cast<int8_t>(type));
    out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(start), header.data,
                header.data + header.size);
  }

  std::vector<char>& out_;
  vector_sink sink_;
  msgpack::packer<vector_sink> pk_;
  size_t depth_ = 0;
};

// -- decoding -----------------------------------------------------------------

/// Internal: carries the message of a decoding failure to decode_msgpack.
struct decode_failure {
  std::string message;
};

[[noreturn]] void fail(std::string message) {
  throw decode_failure{std::move(message)};
}

/// First pass over one msgpack value with msgpack-c's parser and no
/// allocation: checks that the input is complete, well-formed and not nested
/// too deep before msgpack::unpack, which allocates a whole array when it
/// reads its header, runs. A complete input holds every element its headers
/// claim, at least one byte each, so unpack then allocates at most about 24
/// bytes per input byte. Records why the parse stopped.
class scan_visitor : public msgpack::null_visitor {
public:
  explicit scan_visitor(size_t depth_budget) : depth_budget_(depth_budget) {
    // nop
  }

  bool start_array(uint32_t) { return open(); }
  bool end_array() { return close(); }
  bool start_map(uint32_t) { return open(); }
  bool end_map() { return close(); }

  void parse_error(size_t, size_t error_offset) {
    malformed_ = true;
    malformed_offset_ = error_offset;
  }
  void insufficient_bytes(size_t, size_t) { truncated_ = true; }

  bool too_deep() const { return too_deep_; }
  bool malformed() const { return malformed_; }
  /// The offset of the invalid byte, relative to the scanned region.
  size_t malformed_offset() const { return malformed_offset_; }
  bool truncated() const { return truncated_; }

private:
  bool open() {
    if (depth_ >= depth_budget_) {
      too_deep_ = true;
      return false;
    }
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  size_t depth_budget_;
  size_t depth_ = 0;
  bool too_deep_ = false;
  bool malformed_ = false;
  size_t malformed_offset_ = 0;
  bool truncated_ = false;
};

/// msgpack-c callback: reference str, bin and ext bytes in the input instead
/// of copying them (they are copied once, into the value).
bool reference_input(msgpack::type::object_type, size_t, void*) {
  return true;
}

std::string describe(const msgpack::object& x) {
  switch (x.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "bool";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "int";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "float";
    case msgpack::type::STR:
      return "str";
    case msgpack::type::BIN:
      return "bin";
    case msgpack::type::ARRAY:
      return "array of " + std::to_string(x.via.array.size);
    case msgpack::type::MAP:
      return "map of " + std::to_string(x.via.map.size);
    case msgpack::type::EXT:
      return "ext " + std::to_string(int{x.via.ext.type()});
  }
  return "unknown";
}

/// Decodes one input: unpacks each region (the input, then each ext body)
/// with msgpack-c and converts the objects into values.
class decoder {
public:
  decoder(const char* base, const decode_limits& limits) : base_(base), limits_(limits) {
    // nop
  }

  /// Unpacks the one msgpack value that spans `[data, data + size)`, nested
  /// at most `depth_budget` deep. `where` prefixes messages about an ext body.
  msgpack::object_handle unpack(const char* data, size_t size, size_t depth_budget,
                                const std::string& where) {
    check(data, size, depth_budget, where);
    // The scan proved the input well-formed; the limits are a second guard.
    msgpack::unpack_limit limit{size, size, size, size, size, depth_budget};
    size_t off = 0;
    return msgpack::unpack(data, size, off, reference_input, nullptr, limit);
  }

  /// As `unpack`, into `zone` (the object lives as long as the zone's
  /// memory; no zone of its own is allocated).
  msgpack::object unpack_into(msgpack::zone& zone, const char* data, size_t size,
                              size_t depth_budget) {
    check(data, size, depth_budget, {});
    msgpack::unpack_limit limit{size, size, size, size, size, depth_budget};
    size_t off = 0;
    return msgpack::unpack(zone, data, size, off, reference_input, nullptr, limit);
  }

  /// Fails unless `[data, data + size)` is exactly one well-formed value
  /// nested at most `depth_budget` deep.
  void check(const char* data, size_t size, size_t depth_budget, const std::string& where) {
    const std::string prefix = "msgpack: " + where;
    const char* noun = where.empty() ? "input" : "body";
    if (size == 0)
      fail(prefix + "truncated " + noun + ": 0 bytes, value incomplete");
    scan_visitor scan{depth_budget};
    size_t end = 0;
    bool ok = false;
    try {
      ok = msgpack::parse(data, size, end, scan);
    } catch (const msgpack::unpack_error& e) {
      fail(prefix + "malformed " + noun + ": " + e.what());
    }
    if (!ok) {
      if (scan.too_deep())
        fail(prefix + "nesting deeper than " + std::to_string(limits_.max_depth));
      if (scan.malformed() && scan.malformed_offset() < size) {
        size_t at = scan.malformed_offset();
        char byte[8];
        std::snprintf(byte, sizeof(byte), "0x%02x", static_cast<uint8_t>(data[at]));
        fail(prefix + "malformed " + noun + ": invalid type byte " + byte + " at offset "
             + std::to_string(offset_of(data + at)));
      }
      if (scan.truncated())
        fail(prefix + "truncated " + noun + ": " + std::to_string(size)
             + " bytes, value incomplete");
      fail(prefix + "malformed " + noun);
    }
    if (end != size)
      fail(prefix + std::to_string(size - end) + " trailing bytes after the value at offset "
           + std::to_string(offset_of(data + end)));
  }

  /// Converts `x`, which sits inside `depth` arrays, maps and ext bodies.
  value convert(const msgpack::object& x, size_t depth) {
    switch (x.type) {
      case msgpack::type::NIL:
        return none_t{};
      case msgpack::type::BOOLEAN:
        return x.via.boolean;
      case msgpack::type::POSITIVE_INTEGER:
        return static_cast<unsigned long>(x.via.u64);
      case msgpack::type::NEGATIVE_INTEGER:
        return static_cast<long long>(x.via.i64);
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64:
        return x.via.f64;
      case msgpack::type::STR:
        return std::string(x.via.str.ptr, x.via.str.size);
      case msgpack::type::BIN: {
        const auto* p = reinterpret_cast<const uint8_t*>(x.via.bin.ptr);
        return pyactor::bytes{std::vector<uint8_t>(p, p + x.via.bin.size)};
      }
      case msgpack::type::ARRAY:
        return convert_items(x, depth);
      case msgpack::type::MAP: {
        dict result;
        result.items.reserve(x.via.map.size);
        for (uint32_t i = 0; i < x.via.map.size; ++i) {
          const auto& kv = x.via.map.ptr[i];
          result.items.emplace_back(convert(kv.key, depth + 1), convert(kv.val, depth + 1));
        }
        return result;
      }
      case msgpack::type::EXT:
        return convert_ext(x, depth);
    }
    fail("msgpack: unexpected object type " + std::to_string(static_cast<int>(x.type)));
  }

private:
  size_t offset_of(const char* p) const { return static_cast<size_t>(p - base_); }

  list convert_items(const msgpack::object& array, size_t depth) {
    list result;
    result.reserve(array.via.array.size);
    for (uint32_t i = 0; i < array.via.array.size; ++i)
      result.push_back(convert(array.via.array.ptr[i], depth + 1));
    return result;
  }

  value convert_ext(const msgpack::object& x, size_t depth) {
    int8_t type = x.via.ext.type();
    const char* body = x.via.ext.data();
    size_t size = x.via.ext.size;
    std::string where = "ext " + std::to_string(int{type}) + " (" + ext_name(type)
                        + ") with body at offset " + std::to_string(offset_of(body)) + ": ";
    auto body_value = [&] {
      return unpack(body, size, limits_.max_depth - depth, where);
    };
    auto wrong_shape = [&](const char* expected, const msgpack::object& got) {
      fail("msgpack: " + where + "body must be " + expected + ", got " + describe(got));
    };
    switch (static_cast<ext_type>(type)) {
      case ext_type::tuple: {
        auto handle = body_value();
        const auto& body_obj = handle.get();
        if (body_obj.type != msgpack::type::ARRAY)
          wrong_shape("an array", body_obj);
        return tuple{convert_items(body_obj, depth)};
      }
      case ext_type::atom:
        return atom{std::string(body, size)};
      case ext_type::bigint:
        return convert_bigint(reinterpret_cast<const uint8_t*>(body), size, where);
      case ext_type::tagged: {
        auto handle = body_value();
        const auto& obj = handle.get();
        if (!is_array(obj, 2) || obj.via.array.ptr[0].type != msgpack::type::STR)
          wrong_shape("[tag: str, payload]", obj);
        const auto& tag = obj.via.array.ptr[0].via.str;
        return make_tagged(std::string(tag.ptr, tag.size),
                           convert(obj.via.array.ptr[1], depth + 1));
      }
      case ext_type::objref: {
        auto handle = body_value();
        const auto& obj = handle.get();
        if (!is_array(obj, 3) || obj.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER
            || obj.via.array.ptr[1].type != msgpack::type::POSITIVE_INTEGER
            || obj.via.array.ptr[2].type != msgpack::type::STR)
          wrong_shape("[worker_uid: uint, object_id: uint, type_name: str]", obj);
        const auto* items = obj.via.array.ptr;
        return object_ref{items[0].via.u64, items[1].via.u64,
                          std::string(items[2].via.str.ptr, items[2].via.str.size)};
      }
      case ext_type::opaque: {
        auto handle = body_value();
        const auto& obj = handle.get();
        if (!is_array(obj, 2) || obj.via.array.ptr[0].type != msgpack::type::STR
            || obj.via.array.ptr[1].type != msgpack::type::BIN)
          wrong_shape("[kind: str, data: bin]", obj);
        const auto* items = obj.via.array.ptr;
        const auto* data = reinterpret_cast<const uint8_t*>(items[1].via.bin.ptr);
        return opaque{std::string(items[0].via.str.ptr, items[0].via.str.size),
                      std::vector<uint8_t>(data, data + items[1].via.bin.size)};
      }
    }
    fail("msgpack: unknown ext type " + std::to_string(int{type}) + " at offset "
         + std::to_string(offset_of(body - 1)) + " (the type byte)");
  }

  static bool is_array(const msgpack::object& x, uint32_t size) {
    return x.type == msgpack::type::ARRAY && x.via.array.size == size;
  }

  /// A bigint that fits int64 becomes an int64; one in [2^63, 2^64) or
  /// beyond stays a (minimal) big_integer.
  static value convert_bigint(const uint8_t* be, size_t size, const std::string& where) {
    if (size == 0)
      fail("msgpack: " + where + "empty body");
    size_t skip = redundant_sign_bytes(be, size);
    be += skip;
    size -= skip;
    if (size <= 8)
      return static_cast<long long>(read_int64(be, size));
    return big_integer{std::vector<uint8_t>(be, be + size)};
  }

  const char* base_;
  const decode_limits& limits_;
};

} // namespace

// -- public API -----------------------------------------------------------------

void encode_msgpack(const value& x, std::vector<char>& out) {
  size_t start = out.size();
  try {
    encoder{out}.encode(x);
  } catch (const encoder::too_deep&) {
    out.resize(start);
    throw encode_error("a value nested " + std::to_string(depth_of(x))
                       + " deep is over the depth limit of "
                       + std::to_string(limits::max_value_depth)
                       + " (pyactor::limits::max_value_depth)");
  } catch (...) {
    out.resize(start);
    throw;
  }
}

std::vector<char> encode_msgpack(const value& x) {
  std::vector<char> out;
  encode_msgpack(x, out);
  return out;
}

result<value> decode_msgpack(const char* data, size_t size, const decode_limits& limits) {
  try {
    if (size > limits.max_bytes)
      return make_error(errc::bad_request,
                        "msgpack: input of " + std::to_string(size)
                          + " bytes exceeds the limit of " + std::to_string(limits.max_bytes));
    decoder dec{data, limits};
    // The top-level objects go into this thread's zone, emptied after each
    // input and reused (a zone of its own costs two allocations, one of
    // 8 KiB, per input); ext bodies, unpacked while it is in use, get their own.
    thread_local msgpack::zone zone;
    thread_local bool zone_busy = false;
    if (zone_busy) {
      auto handle = dec.unpack(data, size, limits.max_depth, "");
      return dec.convert(handle.get(), 0);
    }
    struct release {
      ~release() {
        zone.clear();
        zone_busy = false;
      }
    } guard;
    zone_busy = true;
    return dec.convert(dec.unpack_into(zone, data, size, limits.max_depth), 0);
  } catch (const decode_failure& e) {
    return make_error(errc::bad_request, e.message);
  } catch (const std::bad_alloc&) {
    return make_error(errc::bad_request,
                      "msgpack: out of memory decoding " + std::to_string(size) + " bytes");
  } catch (const std::exception& e) {
    return make_error(errc::bad_request, std::string{"msgpack: "} + e.what());
  } catch (...) {
    return make_error(errc::bad_request, "msgpack: unexpected failure");
  }
}

} // namespace pyactor::codec
