// Tests for pyactor::codec::encode_msgpack / decode_msgpack.
#include "pyactor/codec/msgpack.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

using namespace pyactor;
using namespace pyactor::codec;

namespace {

/// Bytes from hex text with optional spaces: hex("c7 03 01").
std::vector<char> hex(const std::string& text) {
  std::vector<char> out;
  int hi = -1;
  for (char c : text) {
    if (c == ' ')
      continue;
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    BOOST_REQUIRE_MESSAGE(v >= 0, "bad hex text " << text);
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  BOOST_REQUIRE_MESSAGE(hi < 0, "odd hex text " << text);
  return out;
}

std::vector<char> raw(const std::string& bytes) {
  return std::vector<char>(bytes.begin(), bytes.end());
}

std::string to_hex(const std::vector<char>& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    if (!out.empty())
      out += ' ';
    out += digits[static_cast<uint8_t>(c) >> 4];
    out += digits[static_cast<uint8_t>(c) & 0x0f];
  }
  return out;
}

big_integer big(const std::string& text) {
  big_integer out;
  BOOST_REQUIRE(big_integer::from_string(text, out));
  return out;
}

/// Decodes `bytes`, requiring success.
pyactor::value decode_ok(const std::vector<char>& bytes) {
  auto res = decode_msgpack(bytes);
  BOOST_REQUIRE_MESSAGE(res.ok(), "decoding " << to_hex(bytes) << " failed: "
                                              << (res.ok() ? "" : res.error().message));
  return res.value();
}

/// Decodes `bytes`, requiring a bad_request error; returns its message.
std::string decode_error(const std::vector<char>& bytes, const decode_limits& limits = {}) {
  auto res = decode_msgpack(bytes, limits);
  BOOST_REQUIRE_MESSAGE(!res.ok(), "decoding " << to_hex(bytes) << " succeeded: "
                                               << (res.ok() ? res.value().to_string() : ""));
  BOOST_TEST(static_cast<int>(res.error().code) == static_cast<int>(errc::bad_request));
  BOOST_TEST(res.error().message.rfind("msgpack: ", 0) == 0u, res.error().message);
  return res.error().message;
}

void check_round_trip(const pyactor::value& x) {
  auto bytes = encode_msgpack(x);
  auto res = decode_msgpack(bytes);
  BOOST_REQUIRE_MESSAGE(res.ok(), "decoding " << x.to_string() << " failed: "
                                              << (res.ok() ? "" : res.error().message));
  BOOST_TEST(res.value() == x, x.to_string() << " came back as " << res.value().to_string());
  // The encoding is canonical: encoding the decoded value gives the same bytes.
  BOOST_TEST(encode_msgpack(res.value()) == bytes);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A nested value touching every kind.
pyactor::value sample_value() {
  dict d;
  d.items.emplace_back("name", "pyactor");
  d.items.emplace_back(make_tuple(1, "key"), make_list(1.5, none_t{}, true));
  d.items.emplace_back(7, make_bytes(std::string("\x00\x01\xff", 3)));
  d.items.emplace_back(atom{"ok"}, make_tagged("date", make_tuple(1923, 4, 2)));
  return make_list(pyactor::value(std::move(d)), make_tuple(),
                   make_tuple(make_tuple(make_list(make_tuple(1)))),
                   big("481229803398374426442198455156736"), std::numeric_limits<int64_t>::min(),
                   std::numeric_limits<unsigned long>::max(), -1, "text with \xc3\xa9",
                   object_ref{7, 3, "list"}, opaque{"pid", {1, 2, 3}}, pyactor::value(dict{}),
                   make_list(), false);
}

} // namespace

namespace pyactor {

// Lets BOOST_TEST print values (found by ADL; internal linkage per test file).
[[maybe_unused]] static std::ostream& boost_test_print_type(std::ostream& os, const value& x) {
  return os << x.to_string();
}

} // namespace pyactor

BOOST_AUTO_TEST_SUITE(codec_msgpack)

// -- exact bytes ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(encodes_simple_values_to_exact_bytes) {
  BOOST_TEST(encode_msgpack(pyactor::value(1)) == raw("\x01"));
  BOOST_TEST(encode_msgpack(pyactor::value("a")) == raw("\xa1" "a"));
  BOOST_TEST(encode_msgpack(pyactor::value()) == raw("\xc0"));
  BOOST_TEST(encode_msgpack(pyactor::value(true)) == raw("\xc3"));
  BOOST_TEST(encode_msgpack(pyactor::value(false)) == raw("\xc2"));
  BOOST_TEST(encode_msgpack(pyactor::value(-1)) == raw("\xff"));
  BOOST_TEST(encode_msgpack(pyactor::value(128)) == hex("cc 80"));
  BOOST_TEST(encode_msgpack(pyactor::value(-33)) == hex("d0 df"));
  BOOST_TEST(encode_msgpack(pyactor::value(1.5)) == hex("cb 3f f8 00 00 00 00 00 00"));
  BOOST_TEST(encode_msgpack(make_bytes("ab")) == hex("c4 02 61 62"));
  BOOST_TEST(encode_msgpack(make_list(1, 2)) == hex("92 01 02"));
  BOOST_TEST(encode_msgpack(pyactor::value(dict{{{"a", 1}}})) == hex("81 a1 61 01"));
}

BOOST_AUTO_TEST_CASE(encodes_integer_edges_to_exact_bytes) {
  BOOST_TEST(encode_msgpack(pyactor::value(std::numeric_limits<int64_t>::min()))
             == hex("d3 80 00 00 00 00 00 00 00"));
  BOOST_TEST(encode_msgpack(pyactor::value(std::numeric_limits<int64_t>::max()))
             == hex("cf 7f ff ff ff ff ff ff ff"));
  // 2^63 and 2^64-1 travel as plain msgpack uint64 so Python sees an int.
  BOOST_TEST(encode_msgpack(pyactor::value(9223372036854775808ul))
             == hex("cf 80 00 00 00 00 00 00 00"));
  BOOST_TEST(encode_msgpack(pyactor::value(std::numeric_limits<unsigned long>::max()))
             == hex("cf ff ff ff ff ff ff ff ff"));
  // -2^63-1 and 2^64 need the bigint ext.
  BOOST_TEST(encode_msgpack(pyactor::value(big("-9223372036854775809")))
             == hex("c7 09 03 ff 7f ff ff ff ff ff ff ff"));
  BOOST_TEST(encode_msgpack(pyactor::value(big("18446744073709551616")))
             == hex("c7 09 03 01 00 00 00 00 00 00 00 00"));
  BOOST_TEST(encode_msgpack(pyactor::value(big("481229803398374426442198455156736")))
             == hex("c7 0e 03 17 b9 f9 5b 8d c8 7c a4 a4 00 00 00 00 00"));
  BOOST_TEST(encode_msgpack(pyactor::value(big("-481229803398374426442198455156736")))
             == hex("c7 0e 03 e8 46 06 a4 72 37 83 5b 5c 00 00 00 00 00"));
  // A big_integer that fits int64 is written as a plain int.
  BOOST_TEST(encode_msgpack(pyactor::value(big("5"))) == hex("05"));
  BOOST_TEST(encode_msgpack(pyactor::value(big_integer{{0xff, 0xff, 0xfe}})) == hex("fe"));
}

BOOST_AUTO_TEST_CASE(encodes_ext_types_to_exact_bytes) {
  BOOST_TEST(encode_msgpack(make_tuple(1, 2)) == hex("c7 03 01 92 01 02"));
  BOOST_TEST(encode_msgpack(make_tuple()) == hex("d4 01 90"));
  BOOST_TEST(encode_msgpack(make_tuple(1)) == hex("d5 01 91 01"));
  BOOST_TEST(encode_msgpack(pyactor::value(atom{"ok"})) == hex("d5 02 6f 6b"));
  BOOST_TEST(encode_msgpack(pyactor::value(atom{""})) == hex("c7 00 02"));
  BOOST_TEST(encode_msgpack(make_tagged("date", make_tuple(1923, 4, 2)))
             == hex("c7 0f 04 92 a4 64 61 74 65 c7 06 01 93 cd 07 83 04 02"));
  BOOST_TEST(encode_msgpack(pyactor::value(object_ref{7, 3, "list"}))
             == hex("d7 05 93 07 03 a4 6c 69 73 74"));
  BOOST_TEST(encode_msgpack(pyactor::value(opaque{"pid", {1, 2}}))
             == hex("c7 09 06 92 a3 70 69 64 c4 02 01 02"));
}

BOOST_AUTO_TEST_CASE(encode_appends_to_the_buffer) {
  std::vector<char> out = raw("xy");
  encode_msgpack(make_tuple(1, 2), out);
  encode_msgpack(pyactor::value(3), out);
  BOOST_TEST(out == hex("78 79 c7 03 01 92 01 02 03"));
}

BOOST_AUTO_TEST_CASE(large_ext_body_gets_ext32_header) {
  list items(70000, pyactor::value(1));
  auto bytes = encode_msgpack(pyactor::value(tuple{items}));
  // ext32: c9, u32 length, type 1; body: array32 dd, u32 count, 70000 x 01.
  BOOST_REQUIRE(bytes.size() == 6u + 5u + 70000u);
  BOOST_TEST(to_hex(std::vector<char>(bytes.begin(), bytes.begin() + 11))
             == "c9 00 01 11 75 01 dd 00 01 11 70");
  check_round_trip(pyactor::value(tuple{items}));
}

// -- round trips ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(round_trips_scalars) {
  for (const auto& x : std::vector<pyactor::value>{
         none_t{}, true, false, 0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, -32768,
         -32769, 4294967295ll, 4294967296ll, std::numeric_limits<int64_t>::min(),
         std::numeric_limits<int64_t>::max()}) {
    check_round_trip(x);
  }
  for (double d : {0.0, -0.0, 1.5, -2.25, 1e100, 5e-324, std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()})
    check_round_trip(d);
  auto nan = decode_ok(encode_msgpack(pyactor::value(std::nan(""))));
  BOOST_REQUIRE(nan.is<double>());
  BOOST_TEST(std::isnan(nan.as<double>()));
  auto neg_zero = decode_ok(encode_msgpack(pyactor::value(-0.0)));
  BOOST_TEST(std::signbit(neg_zero.as<double>()));
}

BOOST_AUTO_TEST_CASE(round_trips_integers_of_any_size) {
  check_round_trip(std::numeric_limits<unsigned long>::max());
  check_round_trip(9223372036854775808ul);
  for (const char* text :
       {"481229803398374426442198455156736", "-481229803398374426442198455156736",
        "-9223372036854775809", "18446744073709551616", "-18446744073709551616",
        "-18446744073709551617", "340282366920938463463374607431768211456"}) {
    check_round_trip(big(text));
  }
  // 2^63 comes back as the same big_integer value(unsigned long) makes.
  auto two_pow_63 = decode_ok(hex("cf 80 00 00 00 00 00 00 00"));
  BOOST_TEST(two_pow_63 == pyactor::value(9223372036854775808ul));
  BOOST_TEST(two_pow_63.as<big_integer>().to_string() == "9223372036854775808");
}

BOOST_AUTO_TEST_CASE(round_trips_strings_and_bytes) {
  check_round_trip("");
  check_round_trip(std::string("nul\0inside", 10));
  check_round_trip(std::string(31, 'x'));
  check_round_trip(std::string(32, 'x'));
  check_round_trip(std::string(256, 'x'));
  check_round_trip(std::string(70000, 'x'));
  check_round_trip(make_bytes(""));
  std::vector<uint8_t> all(256);
  for (int i = 0; i < 256; ++i)
    all[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
  check_round_trip(pyactor::bytes{all});
  check_round_trip(pyactor::bytes{std::vector<uint8_t>(70000, 0xab)});
  // Invalid UTF-8 is not checked: str bytes pass through as they are.
  auto text = decode_ok(hex("a2 ff fe"));
  BOOST_TEST(text.as<std::string>() == std::string("\xff\xfe"));
}

BOOST_AUTO_TEST_CASE(round_trips_containers_and_pyactor_types) {
  check_round_trip(make_list());
  check_round_trip(make_tuple());
  check_round_trip(pyactor::value(dict{}));
  check_round_trip(make_tuple(1));
  check_round_trip(make_list(make_list(make_list())));
  check_round_trip(make_tuple(make_tuple(make_tuple())));
  check_round_trip(pyactor::value(list(20, pyactor::value(dict{{{"k", make_tuple(1, 2)}}}))));
  check_round_trip(pyactor::value(atom{"ok"}));
  check_round_trip(pyactor::value(atom{"with space \xe2\x82\xac"}));
  check_round_trip(make_tagged("date", make_tuple(1923, 4, 2)));
  check_round_trip(make_tagged("decimal", "1.50"));
  check_round_trip(make_tagged("nested", make_tagged("inner", make_list(make_tuple()))));
  check_round_trip(pyactor::value(object_ref{std::numeric_limits<uint64_t>::max(),
                                             std::numeric_limits<uint64_t>::max(), "socket"}));
  check_round_trip(pyactor::value(object_ref{0, 0, ""}));
  check_round_trip(pyactor::value(opaque{"ref", {}}));
  check_round_trip(sample_value());
  dict many;
  for (int i = 0; i < 70000; ++i)
    many.items.emplace_back(i, i % 3 == 0 ? pyactor::value(make_tuple(i)) : pyactor::value(i));
  check_round_trip(pyactor::value(std::move(many)));
}

BOOST_AUTO_TEST_CASE(tagged_with_null_payload_encodes_none) {
  auto back = decode_ok(encode_msgpack(pyactor::value(tagged{"t", nullptr})));
  BOOST_TEST(back == make_tagged("t", none_t{}));
}

// -- other encodings Python may send ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(decodes_non_canonical_encodings) {
  BOOST_TEST(decode_ok(hex("cc 05")) == pyactor::value(5));
  BOOST_TEST(decode_ok(hex("d0 05")) == pyactor::value(5));
  BOOST_TEST(decode_ok(hex("d3 ff ff ff ff ff ff ff ff")) == pyactor::value(-1));
  BOOST_TEST(decode_ok(hex("ca 3f c0 00 00")) == pyactor::value(1.5)); // float32
  BOOST_TEST(decode_ok(hex("d9 01 61")) == pyactor::value("a"));        // str8
  BOOST_TEST(decode_ok(hex("dc 00 01 01")) == make_list(1));            // array16
  BOOST_TEST(decode_ok(hex("de 00 01 a1 61 01")) == pyactor::value(dict{{{"a", 1}}}));
  BOOST_TEST(decode_ok(hex("c8 00 03 01 92 01 02")) == make_tuple(1, 2)); // ext16 tuple
  // bigint bodies that fit are normalized: int64, or big_integer in [2^63, 2^64)
  BOOST_TEST(decode_ok(hex("d4 03 05")) == pyactor::value(5));
  BOOST_TEST(decode_ok(hex("d4 03 ff")) == pyactor::value(-1));
  BOOST_TEST(decode_ok(hex("c7 09 03 00 00 00 00 00 00 00 00 05")) == pyactor::value(5));
  BOOST_TEST(decode_ok(hex("d7 03 80 00 00 00 00 00 00 00"))
             == pyactor::value(std::numeric_limits<int64_t>::min()));
  BOOST_TEST(decode_ok(hex("c7 0a 03 00 00 80 00 00 00 00 00 00 00"))
             == pyactor::value(9223372036854775808ul));
  BOOST_TEST(decode_ok(hex("c7 0a 03 ff ff 7f ff ff ff ff ff ff ff"))
             == pyactor::value(big("-9223372036854775809")));
}

// -- malformed input ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_truncation_is_an_error) {
  auto bytes = encode_msgpack(sample_value());
  BOOST_REQUIRE(bytes.size() > 100u);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<char> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto msg = decode_error(prefix);
    BOOST_TEST(msg == "msgpack: truncated input: " + std::to_string(n)
                        + " bytes, value incomplete");
  }
  decode_ok(bytes);
}

BOOST_AUTO_TEST_CASE(truncated_ext_body_is_an_error) {
  auto msg = decode_error(hex("c7 02 01 92 01"));
  BOOST_TEST(msg == "msgpack: ext 1 (tuple) with body at offset 3: truncated body: 2 bytes, "
                    "value incomplete");
  BOOST_TEST(contains(decode_error(hex("c7 00 01")), "truncated body: 0 bytes"));
}

BOOST_AUTO_TEST_CASE(huge_claims_fail_fast) {
  // Nothing is allocated for a claim before the input proves to hold it.
  BOOST_TEST(decode_error(hex("dd ff ff ff ff"))
             == "msgpack: truncated input: 5 bytes, value incomplete");
  BOOST_TEST(decode_error(hex("df ff ff ff ff"))
             == "msgpack: truncated input: 5 bytes, value incomplete");
  BOOST_TEST(contains(decode_error(hex("db ff ff ff ff")), "truncated input"));
  BOOST_TEST(contains(decode_error(hex("c6 ff ff ff ff")), "truncated input"));
  BOOST_TEST(contains(decode_error(hex("c9 ff ff ff fe 01")), "truncated input"));
  decode_error(hex("c9 ff ff ff ff 01")); // msgpack-c refuses this ext size outright
  // Nested arrays that each claim almost the whole input.
  std::vector<char> nested;
  for (int i = 0; i < 90; ++i) {
    auto header = hex("dd 00 00 04 00");
    nested.insert(nested.end(), header.begin(), header.end());
  }
  nested.resize(1100, '\x01');
  BOOST_TEST(decode_error(nested) == "msgpack: truncated input: 1100 bytes, value incomplete");
  // A large input of such headers is refused quickly too.
  std::vector<char> headers;
  for (int i = 0; i < 100; ++i) {
    auto header = hex("dd 00 0f ff ff");
    headers.insert(headers.end(), header.begin(), header.end());
  }
  headers.resize(1 << 20, '\x01');
  BOOST_TEST(contains(decode_error(headers), "truncated input"));
}

BOOST_AUTO_TEST_CASE(nesting_is_limited) {
  auto nested_arrays = [](size_t depth) {
    std::vector<char> out(depth, '\x91');
    out.push_back('\xc0');
    return out;
  };
  // A whole frame body: a value max_value_depth deep inside its envelope.
  constexpr size_t frame_depth = pyactor::limits::max_value_depth + pyactor::limits::max_envelope_depth;
  BOOST_TEST(decode_limits{}.max_depth == frame_depth);
  const std::string too_deep = "msgpack: nesting deeper than " + std::to_string(frame_depth);
  auto ok = decode_ok(nested_arrays(frame_depth));
  BOOST_TEST(ok.is<list>());
  BOOST_TEST(decode_error(nested_arrays(frame_depth + 1)) == too_deep);
  BOOST_TEST(decode_error(nested_arrays(10000)) == too_deep);
  // Maps count too.
  std::vector<char> maps;
  for (int i = 0; i < 10000; ++i) {
    maps.push_back('\x81');
    maps.push_back('\x01');
  }
  maps.push_back('\xc0');
  BOOST_TEST(decode_error(maps) == too_deep);
  // Tuples nest through ext bodies: each tuple is one level. The encoder
  // refuses a value over max_value_depth (the sender's check).
  auto nested_tuples = [](size_t depth) {
    pyactor::value x = none_t{};
    for (size_t i = 0; i < depth; ++i)
      x = make_tuple(std::move(x));
    return x;
  };
  BOOST_TEST(depth_of(decode_ok(encode_msgpack(nested_tuples(100)))) == 100u);
  try {
    encode_msgpack(nested_tuples(101));
    BOOST_ERROR("a value 101 deep was encoded");
  } catch (const encode_error& e) {
    BOOST_TEST(std::string{e.what()}
               == "a value nested 101 deep is over the depth limit of 100 "
                  "(pyactor::limits::max_value_depth)");
  }
  std::vector<char> kept{'\x01'}; // a failed encoding leaves the output as it was
  BOOST_CHECK_THROW(encode_msgpack(nested_tuples(5000), kept), encode_error);
  BOOST_TEST(kept.size() == 1u);
  // 10,000 tuples written as bytes (a value that deep would overflow the
  // stack when built or destroyed): ext32 header c9 <u32 size> 01, then 91.
  std::vector<size_t> sizes(10001, 1); // sizes[i]: encoded size of level i; level 10000 is nil
  for (size_t i = 10000; i-- > 0;)
    sizes[i] = 6 + 1 + sizes[i + 1];
  std::vector<char> deep_tuples;
  for (size_t i = 0; i < 10000; ++i) {
    auto body = static_cast<uint32_t>(1 + sizes[i + 1]);
    deep_tuples.push_back('\xc9');
    for (int shift = 24; shift >= 0; shift -= 8)
      deep_tuples.push_back(static_cast<char>((body >> shift) & 0xff));
    deep_tuples.push_back('\x01');
    deep_tuples.push_back('\x91');
  }
  deep_tuples.push_back('\xc0');
  BOOST_REQUIRE(deep_tuples.size() == sizes[0]);
  BOOST_TEST(contains(decode_error(deep_tuples), "nesting deeper than " + std::to_string(frame_depth)));
  // A list of 99 levels holding a tuple is 100 levels; one more is too deep.
  auto mixed = [](size_t lists) {
    pyactor::value x = make_tuple(1);
    for (size_t i = 0; i < lists; ++i)
      x = make_list(std::move(x));
    return x;
  };
  decode_ok(encode_msgpack(mixed(99)));
  BOOST_CHECK_THROW(encode_msgpack(mixed(100)), encode_error);
  // The limit is configurable.
  decode_limits shallow;
  shallow.max_depth = 2;
  BOOST_TEST(decode_msgpack(nested_arrays(2), shallow).ok());
  BOOST_TEST(decode_error(nested_arrays(3), shallow) == "msgpack: nesting deeper than 2");
}

BOOST_AUTO_TEST_CASE(oversized_input_is_refused) {
  decode_limits small;
  small.max_bytes = 4;
  BOOST_TEST(decode_msgpack(hex("93 01 02 03"), small).ok());
  BOOST_TEST(decode_error(hex("94 01 02 03 04"), small)
             == "msgpack: input of 5 bytes exceeds the limit of 4");
}

BOOST_AUTO_TEST_CASE(trailing_bytes_are_an_error) {
  auto bytes = encode_msgpack(make_list(1, "abcdef", 2)); // 10 bytes
  BOOST_REQUIRE(bytes.size() == 10u);
  bytes.insert(bytes.end(), {'\x01', '\x02', '\x03'});
  BOOST_TEST(decode_error(bytes) == "msgpack: 3 trailing bytes after the value at offset 10");
  BOOST_TEST(decode_error(hex("c0 c0")) == "msgpack: 1 trailing bytes after the value at offset 1");
  // Trailing bytes inside an ext body, too.
  BOOST_TEST(decode_error(hex("92 00 c7 02 01 90 c0"))
             == "msgpack: ext 1 (tuple) with body at offset 5: 1 trailing bytes after the value "
                "at offset 6");
}

BOOST_AUTO_TEST_CASE(invalid_type_byte_is_an_error) {
  BOOST_TEST(decode_error(hex("c1")) == "msgpack: malformed input: invalid type byte 0xc1 at offset 0");
  BOOST_TEST(decode_error(hex("93 01 02 c1"))
             == "msgpack: malformed input: invalid type byte 0xc1 at offset 3");
  BOOST_TEST(decode_error(hex("91 d4 01 c1"))
             == "msgpack: ext 1 (tuple) with body at offset 3: malformed body: invalid type byte "
                "0xc1 at offset 3");
}

BOOST_AUTO_TEST_CASE(unknown_ext_type_is_an_error) {
  BOOST_TEST(decode_error(hex("d4 07 00")) == "msgpack: unknown ext type 7 at offset 1 (the type byte)");
  BOOST_TEST(decode_error(hex("92 01 d6 ff 00 00 00 00"))
             == "msgpack: unknown ext type -1 at offset 3 (the type byte)");
  BOOST_TEST(contains(decode_error(hex("c7 00 00")), "unknown ext type 0"));
}

BOOST_AUTO_TEST_CASE(ext_body_of_wrong_shape_is_an_error) {
  BOOST_TEST(decode_error(hex("d4 01 05"))
             == "msgpack: ext 1 (tuple) with body at offset 2: body must be an array, got int");
  BOOST_TEST(decode_error(hex("c7 00 03"))
             == "msgpack: ext 3 (bigint) with body at offset 3: empty body");
  BOOST_TEST(decode_error(hex("d5 04 92 01"))
             == "msgpack: ext 4 (tagged) with body at offset 2: truncated body: 2 bytes, value "
                "incomplete");
  BOOST_TEST(decode_error(hex("c7 03 04 92 01 02"))
             == "msgpack: ext 4 (tagged) with body at offset 3: body must be [tag: str, payload], "
                "got array of 2");
  BOOST_TEST(contains(decode_error(hex("c7 05 04 93 a1 74 01 02")),
                      "ext 4 (tagged) with body at offset 3: body must be [tag: str, payload], "
                      "got array of 3"));
  BOOST_TEST(contains(decode_error(hex("c7 04 05 93 ff 03 a0")),
                      "ext 5 (objref) with body at offset 3: body must be [worker_uid: uint, "
                      "object_id: uint, type_name: str], got array of 3"));
  BOOST_TEST(contains(decode_error(hex("d4 05 c0")), "ext 5 (objref) with body at offset 2: body "
                                                     "must be [worker_uid: uint, object_id: uint, "
                                                     "type_name: str], got nil"));
  BOOST_TEST(contains(decode_error(hex("c7 05 06 92 a1 70 a1 78")),
                      "ext 6 (opaque) with body at offset 3: body must be [kind: str, data: bin], "
                      "got array of 2"));
}

// -- robustness -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(random_mutations_never_crash) {
  std::vector<std::vector<char>> corpus = {
    encode_msgpack(sample_value()),
    encode_msgpack(make_tagged("date", make_tuple(1923, 4, 2))),
    encode_msgpack(make_tuple(make_tuple(make_tuple(1, 2), make_list(3)), pyactor::value(dict{}))),
    encode_msgpack(pyactor::value(dict{{{"a", make_list(1, 2.5, "x")}, {make_tuple(), atom{"b"}}}})),
    encode_msgpack(pyactor::value(big("-481229803398374426442198455156736"))),
    encode_msgpack(pyactor::value(object_ref{1, 2, "list"})),
  };
  std::mt19937 rng{20240601};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>{0, n - 1}(rng); };
  size_t ok = 0;
  size_t failed = 0;
  for (int i = 0; i < 20000; ++i) {
    auto bytes = corpus[pick(corpus.size())];
    size_t mutations = 1 + pick(4);
    for (size_t m = 0; m < mutations && !bytes.empty(); ++m) {
      size_t at = pick(bytes.size());
      switch (pick(5)) {
        case 0: // random byte
          bytes[at] = static_cast<char>(pick(256));
          break;
        case 1: // flip one bit
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << pick(8)));
          break;
        case 2: // insert a byte
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                       static_cast<char>(pick(256)));
          break;
        case 3: // delete a byte
          bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        default: // a header-ish byte that claims a lot
          bytes[at] = static_cast<char>("\xdc\xdd\xde\xdf\xc9\xc8\xc7\xdb\xff"[pick(9)]);
          break;
      }
    }
    result<pyactor::value> res = make_error(errc::bad_request, "not run");
    BOOST_REQUIRE_NO_THROW(res = decode_msgpack(bytes));
    if (res.ok()) {
      ++ok;
      // Whatever decodes re-encodes canonically and decodes to the same bytes.
      auto again = encode_msgpack(res.value());
      auto res2 = decode_msgpack(again);
      BOOST_REQUIRE(res2.ok());
      BOOST_REQUIRE(encode_msgpack(res2.value()) == again);
    } else {
      ++failed;
      BOOST_REQUIRE(res.error().code == errc::bad_request);
      BOOST_REQUIRE(res.error().message.rfind("msgpack: ", 0) == 0u);
    }
  }
  BOOST_TEST_MESSAGE("mutations: " << ok << " decoded, " << failed << " refused");
  BOOST_TEST(ok > 0u);
  BOOST_TEST(failed > 0u);
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash) {
  std::mt19937 rng{7};
  for (int i = 0; i < 5000; ++i) {
    std::vector<char> bytes(std::uniform_int_distribution<size_t>{0, 64}(rng));
    for (auto& b : bytes)
      b = static_cast<char>(rng() & 0xff);
    BOOST_REQUIRE_NO_THROW(decode_msgpack(bytes));
  }
}

BOOST_AUTO_TEST_SUITE_END()
