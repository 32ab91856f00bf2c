// Tests for pyactor::codec::decode_etf / encode_etf / format_erlang, against
// byte literals and against a real Erlang (tests/etf_vectors.escript).
#include "pyactor/codec/etf.hpp"

#include "pyactor/codec/msgpack.hpp"
#include "test_fixtures.hpp"

#include <boost/test/unit_test.hpp>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

using namespace pyactor;
using namespace pyactor::codec;

namespace {

using byte_vector = std::vector<uint8_t>;

byte_vector from_hex(const std::string& text) {
  byte_vector out;
  int hi = -1;
  for (char c : text) {
    if (c == ' ')
      continue;
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    BOOST_REQUIRE_MESSAGE(v >= 0, "bad hex text " << text);
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  BOOST_REQUIRE_MESSAGE(hi < 0, "odd hex text " << text);
  return out;
}

std::string to_hex(const byte_vector& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

/// The error text of `r`, or "" (Boost.Test evaluates messages eagerly).
template <class T>
std::string why(const result<T>& r) {
  return r ? std::string{} : r.error().message;
}

etf_options exact_options() {
  etf_options o;
  o.mapping = etf_mapping::exact;
  return o;
}

/// Runs a shell command and returns its stdout; fails the test on a non-zero exit.
std::string run(const std::string& command) {
  FILE* p = ::popen(command.c_str(), "r");
  BOOST_REQUIRE_MESSAGE(p != nullptr, "cannot run " << command);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  int status = ::pclose(p);
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                        "'" << command << "' failed (status " << status << "): " << out);
  return out;
}

struct vector_entry {
  std::string name;
  byte_vector input;
  byte_vector expected;
};

/// The conformance vectors from a real Erlang; erl missing fails the test.
const std::vector<vector_entry>& erlang_vectors() {
  static std::vector<vector_entry> vectors = [] {
    std::vector<vector_entry> out;
    std::string text = run("escript " PYACTOR_TEST_SOURCE_DIR "/tests/etf_vectors.escript");
    size_t pos = 0;
    while (pos < text.size()) {
      size_t eol = text.find('\n', pos);
      std::string line = text.substr(pos, eol - pos);
      pos = eol == std::string::npos ? text.size() : eol + 1;
      size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
      BOOST_REQUIRE_MESSAGE(t1 != std::string::npos && t2 != std::string::npos,
                            "bad vector line " << line.substr(0, 80));
      out.push_back({line.substr(0, t1), from_hex(line.substr(t1 + 1, t2 - t1 - 1)),
                     from_hex(line.substr(t2 + 1))});
    }
    return out;
  }();
  BOOST_REQUIRE_GE(vectors.size(), 120u);
  return vectors;
}

void check_error(const byte_vector& input, const std::string& expected_text,
                 const etf_options& options = {}) {
  auto r = decode_etf(input, options);
  BOOST_REQUIRE_MESSAGE(!r, "decoding " << to_hex(input).substr(0, 64) << " should fail with '"
                                         << expected_text << "' but gave "
                                         << (r ? format_erlang(*r) : std::string{}));
  BOOST_CHECK_EQUAL(r.error().code, errc::bad_request);
  BOOST_CHECK_MESSAGE(r.error().message.find(expected_text) != std::string::npos,
                      "error '" << why(r) << "' lacks '" << expected_text << "'");
  BOOST_CHECK_MESSAGE(r.error().message.find("etf: ") == 0,
                      "error '" << why(r) << "' does not start with 'etf: '");
}

/// Runs `f` on a thread with exactly 8 MiB of stack.
void on_8mib_stack(std::function<void()> f) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  BOOST_REQUIRE_EQUAL(pthread_attr_setstacksize(&attr, size_t{8} << 20), 0);
  pthread_t th;
  auto body = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  BOOST_REQUIRE_EQUAL(pthread_create(&th, &attr, body, &f), 0);
  pthread_join(th, nullptr);
  pthread_attr_destroy(&attr);
}

/// A zlib stream of `zeros` zero bytes, made without holding them in memory.
byte_vector deflate_zeros(size_t zeros) {
  z_stream zs{};
  BOOST_REQUIRE_EQUAL(deflateInit(&zs, 9), Z_OK);
  std::vector<uint8_t> chunk(1 << 20, 0), out;
  uint8_t buf[1 << 16];
  while (true) {
    size_t n = std::min(zeros, chunk.size());
    zeros -= n;
    zs.next_in = chunk.data();
    zs.avail_in = static_cast<uInt>(n);
    int flush = zeros == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      zs.next_out = buf;
      zs.avail_out = sizeof buf;
      rc = deflate(&zs, flush);
      out.insert(out.end(), buf, buf + (sizeof buf - zs.avail_out));
    } while (zs.avail_out == 0);
    if (flush == Z_FINISH) {
      BOOST_REQUIRE_EQUAL(rc, Z_STREAM_END);
      break;
    }
  }
  deflateEnd(&zs);
  return out;
}

byte_vector compressed_input(uint32_t claimed, const byte_vector& z) {
  byte_vector out;
  out.reserve(6 + z.size());
  out.push_back(131);
  out.push_back('P');
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(claimed >> shift));
  out.insert(out.end(), z.begin(), z.end());
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(codec_etf)

BOOST_AUTO_TEST_CASE(every_tag_from_byte_literals) {
  struct row {
    const char* input;
    value expected;
    const char* canonical; // empty: same as input
  };
  big_integer two_pow_64;
  BOOST_REQUIRE(big_integer::from_string("18446744073709551616", two_pow_64));
  big_integer minus_two_pow_64;
  BOOST_REQUIRE(big_integer::from_string("-18446744073709551616", minus_two_pow_64));
  std::vector<row> rows = {
    {"83 61 05", int64_t{5}, ""},
    {"83 62 ff ff ff fe", int64_t{-2}, ""},
    {"83 62 00 00 00 05", int64_t{5}, "83 61 05"},
    {"83 6e 08 00 00 00 00 00 00 00 00 80", big_integer{{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}}, ""},
    {"83 6e 08 01 00 00 00 00 00 00 00 80", int64_t{INT64_MIN}, ""},
    {"83 6e 09 00 00 00 00 00 00 00 00 00 01", two_pow_64, ""},
    {"83 6e 09 01 00 00 00 00 00 00 00 00 01", minus_two_pow_64, ""},
    {"83 6f 00 00 00 01 00 07", int64_t{7}, "83 61 07"},
    {"83 46 3f f8 00 00 00 00 00 00", 1.5, ""},
    {"83 46 80 00 00 00 00 00 00 00", -0.0, ""},
    {"83 77 02 6f 6b", atom{"ok"}, ""},
    {"83 77 04 74 72 75 65", true, ""},
    {"83 77 05 66 61 6c 73 65", false, ""},
    {"83 77 09 75 6e 64 65 66 69 6e 65 64", none_t{}, ""},
    {"83 76 00 02 6f 6b", atom{"ok"}, "83 77 02 6f 6b"},
    {"83 73 02 6f 6b", atom{"ok"}, "83 77 02 6f 6b"},
    {"83 64 00 01 ff", atom{"\xc3\xbf"}, "83 77 02 c3 bf"},
    {"83 6d 00 00 00 02 68 69", value{"hi"}, ""},
    {"83 6d 00 00 00 02 ff 00", make_bytes(std::string("\xff\x00", 2)), ""},
    {"83 4d 00 00 00 01 08 41", value{"A"}, "83 6d 00 00 00 01 41"},
    {"83 4d 00 00 00 01 03 e0", opaque{etf_kind::bitstring, from_hex("4d 00 00 00 01 03 e0")}, ""},
    {"83 6a", list{}, ""},
    {"83 6b 00 02 01 02", make_list(1, 2), ""},
    {"83 6c 00 00 00 02 61 01 61 02 6a", make_list(1, 2), "83 6b 00 02 01 02"},
    {"83 6c 00 00 00 01 61 01 61 02", opaque{etf_kind::improper_list, from_hex("6c 00 00 00 01 61 01 61 02")}, ""},
    {"83 68 02 61 01 6a", pyactor::make_tuple(1, list{}), ""},
    {"83 69 00 00 00 01 6a", pyactor::make_tuple(list{}), "83 68 01 6a"},
    {"83 74 00 00 00 01 77 01 61 61 01", dict{{{atom{"a"}, 1}}}, ""},
    {"83 58 77 03 61 40 62 00 00 00 07 00 00 00 01 00 00 00 02",
     opaque{etf_kind::pid, from_hex("58 77 03 61 40 62 00 00 00 07 00 00 00 01 00 00 00 02")}, ""},
    {"83 67 64 00 03 61 40 62 00 00 00 07 00 00 00 01 02",
     opaque{etf_kind::pid, from_hex("58 77 03 61 40 62 00 00 00 07 00 00 00 01 00 00 00 02")},
     "83 58 77 03 61 40 62 00 00 00 07 00 00 00 01 00 00 00 02"},
    {"83 59 77 03 61 40 62 00 00 00 07 00 00 00 02",
     opaque{etf_kind::port, from_hex("59 77 03 61 40 62 00 00 00 07 00 00 00 02")}, ""},
    {"83 66 77 03 61 40 62 00 00 00 07 02",
     opaque{etf_kind::port, from_hex("59 77 03 61 40 62 00 00 00 07 00 00 00 02")},
     "83 59 77 03 61 40 62 00 00 00 07 00 00 00 02"},
    {"83 78 77 03 61 40 62 00 00 00 01 00 00 00 07 00 00 00 02",
     opaque{etf_kind::port, from_hex("78 77 03 61 40 62 00 00 00 01 00 00 00 07 00 00 00 02")}, ""},
    {"83 5a 00 01 77 03 61 40 62 00 00 00 02 00 00 00 07",
     opaque{etf_kind::ref, from_hex("5a 00 01 77 03 61 40 62 00 00 00 02 00 00 00 07")}, ""},
    {"83 65 77 03 61 40 62 00 00 00 07 02",
     opaque{etf_kind::ref, from_hex("5a 00 01 77 03 61 40 62 00 00 00 02 00 00 00 07")},
     "83 5a 00 01 77 03 61 40 62 00 00 00 02 00 00 00 07"},
    {"83 72 00 01 77 03 61 40 62 02 00 00 00 07",
     opaque{etf_kind::ref, from_hex("5a 00 01 77 03 61 40 62 00 00 00 02 00 00 00 07")},
     "83 5a 00 01 77 03 61 40 62 00 00 00 02 00 00 00 07"},
    {"83 71 77 01 6d 77 01 66 61 02", opaque{etf_kind::fun, from_hex("71 77 01 6d 77 01 66 61 02")}, ""},
  };
  for (const auto& r : rows) {
    auto in = from_hex(r.input);
    auto v = decode_etf(in, exact_options());
    BOOST_REQUIRE_MESSAGE(v, r.input << ": " << why(v));
    BOOST_CHECK_MESSAGE(*v == r.expected, r.input << " decoded to " << v->to_string() << ", expected "
                                                  << r.expected.to_string());
    auto out = encode_etf(*v);
    BOOST_REQUIRE_MESSAGE(out, why(out));
    auto want = from_hex(*r.canonical ? r.canonical : r.input);
    BOOST_CHECK_MESSAGE(*out == want, r.input << " re-encoded as " << to_hex(*out));
  }
}

BOOST_AUTO_TEST_CASE(decode_and_encode_give_what_erlang_gives) {
  size_t checked = 0;
  for (const auto& v : erlang_vectors()) {
    for (auto mapping : {etf_mapping::exact, etf_mapping::python}) {
      // {bytes, Bin} is the mapping's one deliberate many-to-one case.
      if (mapping == etf_mapping::python && v.name == "tuple bytes")
        continue;
      etf_options options;
      options.mapping = mapping;
      auto decoded = decode_etf(v.input, options);
      BOOST_REQUIRE_MESSAGE(decoded, v.name << ": " << why(decoded));
      auto encoded = encode_etf(*decoded);
      BOOST_REQUIRE_MESSAGE(encoded, v.name << ": " << why(encoded));
      BOOST_CHECK_MESSAGE(*encoded == v.expected,
                          v.name << ": got " << to_hex(*encoded).substr(0, 200) << ", Erlang gives "
                                 << to_hex(v.expected).substr(0, 200));
      ++checked;
    }
  }
  BOOST_TEST_MESSAGE("conformance: " << checked << " decode+encode checks against erl");
}

BOOST_AUTO_TEST_CASE(erlang_reads_back_what_format_erlang_prints) {
  std::string path = "/tmp/pyactor-etf-print-" + std::to_string(::getpid()) + ".txt";
  size_t lines = 0;
  {
    std::ofstream file(path);
    for (const auto& v : erlang_vectors()) {
      auto decoded = decode_etf(v.input, exact_options());
      BOOST_REQUIRE(decoded);
      std::string text = format_erlang(*decoded);
      if (text.find('#') != std::string::npos && text.find("#{") == std::string::npos)
        continue; // pids, ports, refs and closures have no literal syntax
      if (text.find("#Pid") != std::string::npos || text.find("#Ref") != std::string::npos
          || text.find("#Port") != std::string::npos || text.find("#Fun") != std::string::npos)
        continue;
      file << to_hex(v.expected) << '\t' << text << '\n';
      ++lines;
    }
  }
  std::string script =
    "{ok, B} = file:read_file(\"" + path + "\"),"
    "Bad = [L || L <- binary:split(B, <<\"\\n\">>, [global, trim]),"
    "  begin [H, T] = binary:split(L, <<\"\\t\">>),"
    "    {ok, Ts, _} = erl_scan:string(unicode:characters_to_list(T) ++ \".\"),"
    "    {ok, Term} = erl_parse:parse_term(Ts),"
    "    term_to_binary(Term, [{minor_version, 2}]) =/= binary:decode_hex(H) end],"
    "io:format(\"~p~n\", [length(Bad)] ), [io:format(\"~ts~n\", [X]) || X <- Bad], halt().";
  std::string out = run("erl -noshell -eval '" + script + "' 2>&1");
  ::unlink(path.c_str());
  BOOST_CHECK_MESSAGE(out.rfind("0\n", 0) == 0, "Erlang parsed differently: " << out.substr(0, 2000));
  BOOST_CHECK_GE(lines, 90u);
}

BOOST_AUTO_TEST_CASE(every_truncation_of_every_vector_is_an_error) {
  size_t tried = 0;
  for (const auto& v : erlang_vectors()) {
    const auto& in = v.input;
    for (size_t n = 0; n < in.size(); ++n) {
      // Long vectors: every offset of the first and last 512 bytes, then every 97th.
      if (n > 512 && n + 512 < in.size() && n % 97 != 0)
        continue;
      auto r = decode_etf(in.data(), n);
      BOOST_REQUIRE_MESSAGE(!r, v.name << " cut to " << n << " bytes decoded");
      BOOST_REQUIRE_MESSAGE(r.error().message.find("offset") != std::string::npos,
                            why(r));
      ++tried;
    }
  }
  BOOST_TEST_MESSAGE("truncation: " << tried << " prefixes refused");
}

BOOST_AUTO_TEST_CASE(single_byte_mutations_never_crash_and_round_trip_when_accepted) {
  size_t accepted = 0, refused = 0;
  for (const auto& v : erlang_vectors()) {
    if (v.input.size() > 1024)
      continue;
    for (size_t i = 0; i < v.input.size(); ++i) {
      uint8_t orig = v.input[i];
      for (uint8_t b : {uint8_t(orig ^ 0x01), uint8_t(orig ^ 0x80), uint8_t(0), uint8_t(0xff),
                        uint8_t('l')}) {
        if (b == orig)
          continue;
        auto in = v.input;
        in[i] = b;
        for (auto mapping : {etf_mapping::exact, etf_mapping::python}) {
          etf_options options;
          options.mapping = mapping;
          auto r = decode_etf(in, options);
          if (!r) {
            ++refused;
            continue;
          }
          ++accepted;
          auto once = encode_etf(*r);
          BOOST_REQUIRE_MESSAGE(once, v.name << " mutated at " << i << ": " << why(once));
          auto again = decode_etf(*once, options);
          BOOST_REQUIRE_MESSAGE(again, v.name << " mutated at " << i << ": " << why(again));
          auto twice = encode_etf(*again);
          BOOST_REQUIRE(twice);
          BOOST_REQUIRE_MESSAGE(*once == *twice, v.name << " mutated at " << i
                                                        << ": canonical form is not stable");
          format_erlang(*r);
        }
      }
    }
  }
  BOOST_TEST_MESSAGE("mutations: " << accepted << " accepted and stable, " << refused << " refused");
  BOOST_CHECK_GT(refused, 1000u);
}

BOOST_AUTO_TEST_CASE(a_million_levels_of_nesting_is_refused) {
  for (uint8_t opener : {uint8_t('h'), uint8_t('l'), uint8_t('t')}) {
    byte_vector bomb{131};
    for (int i = 0; i < 1000000; ++i) {
      bomb.push_back(opener);
      if (opener == 'l' || opener == 't')
        bomb.insert(bomb.end(), {0, 0, 0, 1});
      else
        bomb.push_back(1);
    }
    bomb.push_back('j');
    check_error(bomb, "nesting deeper than the limit of 1000 levels");
  }
  // A list split into a million tails is one long list, not deep nesting.
  byte_vector chain{131};
  for (int i = 0; i < 1000000; ++i)
    chain.insert(chain.end(), {'l', 0, 0, 0, 1, 'a', 7});
  chain.push_back('j');
  auto r = decode_etf(chain);
  BOOST_REQUIRE_MESSAGE(r, why(r));
  BOOST_CHECK_EQUAL(r->as<list>().size(), 1000000u);
}

BOOST_AUTO_TEST_CASE(nested_improper_lists_cost_linear_work_or_are_refused) {
  // [[[...[<<1 MiB>>|a]...|a]|a]: each level re-encodes what it holds, so 999
  // levels would copy about 1 GB; the decoder stops at its work bound instead.
  byte_vector in{131};
  for (int i = 0; i < 999; ++i)
    in.insert(in.end(), {'l', 0, 0, 0, 1});
  in.insert(in.end(), {'m', 0, 0x10, 0, 0});
  in.insert(in.end(), size_t{1} << 20, 'x');
  for (int i = 0; i < 999; ++i)
    in.insert(in.end(), {'w', 1, 'a'});
  for (auto mapping : {etf_mapping::exact, etf_mapping::python}) {
    etf_options options;
    options.mapping = mapping;
    check_error(in, "bytes of re-encoding; refused", options);
  }
  // Ten levels are fine and come back byte-equal.
  byte_vector ten{131};
  for (int i = 0; i < 10; ++i)
    ten.insert(ten.end(), {'l', 0, 0, 0, 1});
  ten.insert(ten.end(), {'m', 0, 0, 0, 1, 'x'});
  for (int i = 0; i < 10; ++i)
    ten.insert(ten.end(), {'w', 1, 'a'});
  auto v = decode_etf(ten);
  BOOST_REQUIRE_MESSAGE(v, why(v));
  BOOST_CHECK(*encode_etf(*v) == ten);
}

BOOST_AUTO_TEST_CASE(the_depth_limit_is_safe_on_an_8_mib_stack) {
  etf_limits limits;
  for (uint8_t opener : {uint8_t('h'), uint8_t('l'), uint8_t('t')}) {
    auto nested = [&](size_t depth) {
      byte_vector in{131};
      for (size_t i = 0; i < depth; ++i) {
        in.push_back(opener);
        if (opener == 'l')
          in.insert(in.end(), {0, 0, 0, 1});
        else if (opener == 't')
          in.insert(in.end(), {0, 0, 0, 1, 'a', 1});
        else
          in.push_back(1);
      }
      in.push_back('j');
      for (size_t i = 0; i < depth && opener == 'l'; ++i)
        in.push_back('j');
      return in;
    };
    auto at_limit = nested(limits.max_depth);
    bool ok = false;
    on_8mib_stack([&] {
      auto v = decode_etf(at_limit);
      if (!v)
        return;
      auto again = encode_etf(*v);
      std::string text = format_erlang(*v);
      ok = again && *again == at_limit && text.size() > limits.max_depth;
    });
    BOOST_CHECK_MESSAGE(ok, "depth " << limits.max_depth << " with '" << opener << "' failed");
    check_error(nested(limits.max_depth + 1), "nesting deeper than the limit");
  }
  // The encoder refuses values deeper than its limit instead of recursing on.
  value deep = list{};
  for (size_t i = 0; i < limits.max_depth + 5; ++i)
    deep = list{std::move(deep)};
  auto r = encode_etf(deep);
  BOOST_REQUIRE(!r);
  BOOST_CHECK_NE(r.error().message.find("deeper than the limit"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(lengths_that_claim_4_gib_are_refused_before_allocating) {
  check_error(from_hex("83 6d ff ff ff ff 00 01 02"), "BINARY_EXT length 4294967295 runs past the end");
  check_error(from_hex("83 4d ff ff ff ff 03 00"), "BIT_BINARY_EXT length 4294967295 runs past");
  check_error(from_hex("83 6c ff ff ff ff 6a"), "LIST_EXT length 4294967295 runs past the end");
  check_error(from_hex("83 69 ff ff ff ff 6a"), "tuple arity 4294967295 runs past the end");
  check_error(from_hex("83 74 ff ff ff ff 6a 6a"), "MAP_EXT arity 4294967295 runs past the end");
  check_error(from_hex("83 6f ff ff ff ff 00 01"), "LARGE_BIG_EXT digit count 4294967295 runs past");
  check_error(from_hex("83 6b ff ff 01"), "STRING_EXT length 65535 runs past the end");
  check_error(from_hex("83 70 00 00 00 30 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
                       "00 00 00 ff ff ff ff"),
              "NEW_FUN_EXT free count 4294967295 runs past");
  check_error(compressed_input(0xffffffffu, deflate_zeros(10)), "more than the limit of 67108864");
}

BOOST_AUTO_TEST_CASE(a_zip_bomb_is_refused_without_inflating_it) {
  // 128 MiB of zeros in about 128 KiB.
  auto z = deflate_zeros(size_t{128} << 20);
  BOOST_TEST_MESSAGE("zip bomb: " << z.size() << " compressed bytes");
  check_error(compressed_input(128u << 20, z), "more than the limit of 67108864");
  // A claim within the limit that the data exceeds: inflating stops at the claim.
  check_error(compressed_input(1u << 20, z), "inflates to more than the 1048576 bytes it claims");
  // A claim larger than deflate could ever produce from the input.
  check_error(compressed_input(60u << 20, deflate_zeros(100)), "more than deflate can produce");
  // Short, corrupt and padded zlib data.
  auto good = deflate_zeros(1000);
  auto term = compressed_input(1000, good);
  check_error(byte_vector(term.begin(), term.end() - 3), "truncated zlib data");
  auto corrupt = term;
  corrupt[8] ^= 0xff;
  BOOST_CHECK(!decode_etf(corrupt));
  auto padded = term;
  padded.push_back(0);
  check_error(padded, "1 bytes after the end of the zlib data");
  // And the 1000 zeros inflate fine, but are not a term.
  check_error(term, "unknown tag 0");
  // A compressed term inside a term is refused.
  check_error(from_hex("83 68 01 50 00 00 00 01 00"), "only allowed right after the version byte");
}

BOOST_AUTO_TEST_CASE(malformed_input_gets_an_error_naming_offset_and_problem) {
  check_error({}, "empty input");
  check_error(from_hex("84 61 01"), "expected the version byte 131, got 132");
  check_error(from_hex("83 61 01 00"), "offset 3: 1 trailing bytes after the term");
  check_error(from_hex("83 49 00"), "tag 'I' is internal to the Erlang runtime");
  check_error(from_hex("83 4b 00"), "tag 'K' is internal to the Erlang runtime");
  check_error(from_hex("83 52 00"), "atom cache reference");
  check_error(from_hex("83 75 00"), "FUN_EXT ('u') was removed in OTP 23");
  check_error(from_hex("83 ee"), "offset 1: unknown tag 238 (0xee)");
  check_error(from_hex("83 77 02 c3 28"), "offset 1: atom is not valid UTF-8");
  check_error(from_hex("83 77 03 ed a0 80"), "atom is not valid UTF-8"); // a surrogate
  check_error(from_hex("83 77 02 c0 80"), "atom is not valid UTF-8");    // overlong
  byte_vector long_atom{131, 'd', 1, 0};
  long_atom.insert(long_atom.end(), 256, 'a');
  check_error(long_atom, "atom of 256 characters (at most 255)");
  byte_vector long_utf8{131, 'v', 2, 0};
  for (int i = 0; i < 256; ++i)
    long_utf8.insert(long_utf8.end(), {0xc3, 0xa9});
  check_error(long_utf8, "atom of 256 characters (at most 255)");
  check_error(from_hex("83 46 7f f8 00 00 00 00 00 00"), "float is NaN");
  check_error(from_hex("83 46 7f f0 00 00 00 00 00 00"), "float is infinite");
  check_error(from_hex("83 46 ff f0 00 00 00 00 00 00"), "float is infinite");
  check_error(from_hex("83 74 00 00 00 02 61 01 61 01 61 01 61 02"), "offset 10: map key 1 appears twice");
  check_error(from_hex("83 74 00 00 00 02 62 00 00 00 01 61 01 61 01 61 02"), "map key 1 appears twice");
  check_error(from_hex("83 74 00 00 00 02 6d 00 00 00 01 ff 61 01 68 02 77 05 62 79 74 65 73 6d 00 00 00 01 ff 61 02"),
              "etf: map keys <<255>> map to the same Python value");
  check_error(from_hex("83 6c 00 00 00 00 6a"), "LIST_EXT of length 0");
  check_error(from_hex("83 6e 01 02 05"), "sign byte must be 0 or 1");
  check_error(from_hex("83 4d 00 00 00 01 00 05"), "with 0 bits in the last byte");
  check_error(from_hex("83 4d 00 00 00 00 03"), "BIT_BINARY_EXT of 0 bytes with 3 bits");
  check_error(from_hex("83 5a 00 06 77 01 61 00 00 00 01"), "reference with 6 id words");
  check_error(from_hex("83 58 61 01"), "expected an atom, got tag 97");
  check_error(from_hex("83 63 31 2e 35 78 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
                       "00 00 00 00 00 00 00"),
              "FLOAT_EXT text '1.5x' is not a float");
  check_error(from_hex("83 71 77 01 6d 77 01 66 62 00 00 00 02"), "EXPORT_EXT arity must be");
  check_error(from_hex("83 6d 00 00 00 05 61 62"), "offset 6: BINARY_EXT length 5 runs past the end of the input (2 bytes left)");
  etf_options small;
  small.limits.max_terms = 10;
  check_error(from_hex("83 6b 00 0b 01 02 03 04 05 06 07 08 09 0a 0b"), "limit of 10 terms", small);
  small.limits.max_bytes = 2;
  check_error(from_hex("83 61 01"), "over the limit of 2", small);
  check_error(from_hex("83 77 01"), "offset 3: truncated atom: needs 1 bytes, 0 left");
}

BOOST_AUTO_TEST_CASE(the_python_mapping) {
  auto decode = [](const char* hex, etf_mapping mapping = etf_mapping::python) {
    etf_options o;
    o.mapping = mapping;
    o.extra_tags = {"point"};
    auto r = decode_etf(from_hex(hex), o);
    BOOST_REQUIRE_MESSAGE(r, hex << ": " << why(r));
    return *r;
  };
  // {bytes, <<"hi">>} forces bytes; exact keeps the tuple.
  BOOST_CHECK(decode("83 68 02 77 05 62 79 74 65 73 6d 00 00 00 02 68 69") == make_bytes("hi"));
  BOOST_CHECK(decode("83 68 02 77 05 62 79 74 65 73 6d 00 00 00 02 68 69", etf_mapping::exact)
              == pyactor::make_tuple(atom{"bytes"}, "hi"));
  // {<<"date">>, {1923,4,2}} is the tagged date; its encoding is the same term.
  auto date_hex = "83 68 02 6d 00 00 00 04 64 61 74 65 68 03 62 00 00 07 83 61 04 61 02";
  value date = decode(date_hex);
  BOOST_CHECK(date == make_tagged("date", pyactor::make_tuple(1923, 4, 2)));
  BOOST_CHECK(*encode_etf(date) == from_hex(date_hex));
  BOOST_CHECK(decode(date_hex, etf_mapping::exact).is<tuple>());
  BOOST_CHECK(decode("83 68 02 6d 00 00 00 05 70 6f 69 6e 74 61 01").is<tagged>()); // extra tag
  BOOST_CHECK(decode("83 68 02 6d 00 00 00 05 6f 74 68 65 72 61 01").is<tuple>());
  // Object references travel as {'$pyactor_ref', Uid, Id, <<"Type">>}.
  value ref = object_ref{7, 42, "list"};
  auto ref_bytes = encode_etf(ref);
  BOOST_REQUIRE(ref_bytes);
  BOOST_CHECK_EQUAL(format_erlang(ref), "{'$pyactor_ref',7,42,<<\"list\">>}");
  BOOST_CHECK(*decode_etf(*ref_bytes) == ref);
  // None, bool and bytes go out as Erlang expects them.
  BOOST_CHECK(*encode_etf(none_t{}) == from_hex("83 77 09 75 6e 64 65 66 69 6e 65 64"));
  BOOST_CHECK(*encode_etf(make_bytes("hi")) == from_hex("83 6d 00 00 00 02 68 69"));
  BOOST_CHECK(*encode_etf(make_list(1, 256)) == from_hex("83 6c 00 00 00 02 61 01 62 00 00 01 00 6a"));
  BOOST_CHECK(*encode_etf(value(uint64_t{1} << 63)) == from_hex("83 6e 08 00 00 00 00 00 00 00 00 80"));
}

BOOST_AUTO_TEST_CASE(values_erlang_cannot_carry_are_refused_by_name) {
  auto refused = [](const value& x, const std::string& text) {
    auto r = encode_etf(x);
    BOOST_REQUIRE_MESSAGE(!r, x.to_string() << " encoded");
    BOOST_CHECK_MESSAGE(r.error().message.find(text) != std::string::npos,
                        "'" << why(r) << "' lacks '" << text << "'");
  };
  refused(std::nan(""), "float NaN cannot be represented in Erlang");
  refused(make_list(std::numeric_limits<double>::infinity()), "float inf cannot be represented");
  refused(atom{std::string(256, 'a')}, "has 256 characters (Erlang allows 255)");
  refused(atom{"\xff"}, "atom name is not valid UTF-8");
  refused(opaque{"python.thing", {1, 2}}, "opaque value of kind 'python.thing' is not an Erlang term");
  refused(opaque{etf_kind::pid, {0x61, 0x01}}, "does not hold one erlang.pid term");
  refused(opaque{etf_kind::pid, {0x58, 0x77}}, "truncated");
  refused(dict{{{1, 1}, {1, 2}}}, "dict has two keys that are the same Erlang term: 1");
  refused(dict{{{make_bytes("a"), 1}, {"a", 2}}}, "same Erlang term: <<\"a\">>");
  // An opaque holding an old-form pid goes out in the new form.
  value old_pid = opaque{etf_kind::pid, from_hex("67 64 00 03 61 40 62 00 00 00 07 00 00 00 01 02")};
  BOOST_CHECK(*encode_etf(old_pid)
              == from_hex("83 58 77 03 61 40 62 00 00 00 07 00 00 00 01 00 00 00 02"));
}

BOOST_AUTO_TEST_CASE(format_erlang_writes_erlang_syntax) {
  auto text = [](const char* hex) {
    auto r = decode_etf(from_hex(hex), exact_options());
    BOOST_REQUIRE_MESSAGE(r, why(r));
    return format_erlang(*r);
  };
  BOOST_CHECK_EQUAL(text("83 68 02 77 02 6f 6b 6d 00 00 00 04 74 65 78 74"), "{ok,<<\"text\">>}");
  BOOST_CHECK_EQUAL(text("83 6c 00 00 00 02 61 01 61 02 61 03"), "[1,2|3]");
  BOOST_CHECK_EQUAL(text("83 4d 00 00 00 02 03 01 e0"), "<<1,7:3>>");
  BOOST_CHECK_EQUAL(text("83 46 80 00 00 00 00 00 00 00"), "-0.0");
  BOOST_CHECK_EQUAL(format_erlang(1e100), "1.0e100");
  BOOST_CHECK_EQUAL(format_erlang(5e-324), "5.0e-324");
  BOOST_CHECK_EQUAL(format_erlang(atom{"Hello world"}), "'Hello world'");
  BOOST_CHECK_EQUAL(format_erlang(atom{"end"}), "'end'");
  BOOST_CHECK_EQUAL(format_erlang(atom{"it's"}), "'it\\'s'");
  BOOST_CHECK_EQUAL(format_erlang(atom{"a@b"}), "a@b");
  BOOST_CHECK_EQUAL(format_erlang(dict{{{atom{"a"}, 1.5}}}), "#{a => 1.5}");
  BOOST_CHECK_EQUAL(format_erlang(make_bytes(std::string("\x00\xff", 2))), "<<0,255>>");
  BOOST_CHECK_EQUAL(format_erlang("h\xc3\xa9"), "<<\"h\xc3\xa9\"/utf8>>");
  BOOST_CHECK_EQUAL(text("83 71 77 05 6c 69 73 74 73 77 03 6d 61 70 61 02"), "fun lists:map/2");
  BOOST_CHECK_EQUAL(text("83 58 77 03 61 40 62 00 00 00 07 00 00 00 01 00 00 00 02"), "#Pid<a@b.7.1>");
  BOOST_CHECK_EQUAL(text("83 5a 00 02 77 03 61 40 62 00 00 00 02 00 00 00 07 00 00 00 08"),
                    "#Ref<a@b.7.8>");
}

BOOST_AUTO_TEST_CASE(opaque_terms_pass_through_msgpack_and_a_real_worker_byte_equal) {
  // Pids, ports, refs, funs, bitstrings and improper lists from a real Erlang.
  list opaques;
  std::vector<byte_vector> originals;
  for (const auto& v : erlang_vectors()) {
    auto decoded = decode_etf(v.input);
    BOOST_REQUIRE(decoded);
    if (!decoded->is<opaque>())
      continue;
    opaques.push_back(*decoded);
    originals.push_back(v.expected);
  }
  BOOST_REQUIRE_GE(opaques.size(), 15u);
  value all = tuple{opaques};
  auto packed = decode_msgpack(encode_msgpack(all));
  BOOST_REQUIRE(packed);
  BOOST_CHECK(*packed == all);
  auto rt = runtime::start(test::test_options(1)).value();
  auto back = rt->call("copy", "deepcopy", {all});
  BOOST_REQUIRE_MESSAGE(back, why(back));
  const auto& items = back->as<tuple>().items;
  BOOST_REQUIRE_EQUAL(items.size(), originals.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto bytes = encode_etf(items[i]);
    BOOST_REQUIRE(bytes);
    BOOST_CHECK_MESSAGE(*bytes == originals[i], "opaque " << i << " came back as " << to_hex(*bytes));
  }
}

BOOST_AUTO_TEST_CASE(the_etf_command_reads_stdin_and_exits_2_on_bad_input) {
  std::string dir = "/tmp/pyactor-etf-cli-" + std::to_string(::getpid());
  std::string cli = std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor";
  run("mkdir -p " + dir);
  auto write = [&](const std::string& name, const byte_vector& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return dir + "/" + name;
  };
  size_t checked = 0;
  for (const auto& v : erlang_vectors()) {
    if (v.name != "mixed reply" && v.name != "compressed map" && v.name != "old PID_EXT"
        && v.name != "improper gen_call tag")
      continue;
    auto in = write("in", v.input);
    auto decoded = decode_etf(v.input, exact_options());
    BOOST_REQUIRE(decoded);
    BOOST_CHECK_EQUAL(run(cli + " etf decode < " + in), format_erlang(*decoded) + "\n");
    std::string canonical = run(cli + " etf encode < " + in);
    BOOST_CHECK(byte_vector(canonical.begin(), canonical.end()) == v.expected);
    ++checked;
  }
  BOOST_CHECK_EQUAL(checked, 4u);
  auto bad = write("bad", from_hex("83 6c 00 00 00 02 61 01"));
  for (const char* mode : {"decode", "encode"}) {
    int status = std::system((cli + " etf " + mode + " < " + bad + " > " + dir + "/out 2> " + dir
                              + "/err").c_str());
    BOOST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    std::ifstream err(dir + "/err");
    std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    BOOST_CHECK_MESSAGE(text.find("pyactor etf: etf: offset 8: truncated") == 0, text);
    BOOST_CHECK_EQUAL(std::ifstream(dir + "/out").peek(), std::char_traits<char>::eof());
  }
  run("rm -rf " + dir);
}

// Found by the fuzzer: every level of nested improper lists checked the
// levels inside it again, doubling the work per level (60 levels: forever).
BOOST_AUTO_TEST_CASE(nested_improper_lists_cost_linear_time) {
  const int levels = 60;
  byte_vector in{131};
  for (int i = 0; i < levels; ++i) // [[...[1|b]...|b]|b]
    in.insert(in.end(), {108, 0, 0, 0, 1});
  in.insert(in.end(), {97, 1});
  for (int i = 0; i < levels; ++i)
    in.insert(in.end(), {119, 1, 'b'});
  for (auto mapping : {etf_mapping::exact, etf_mapping::python}) {
    etf_options options;
    options.mapping = mapping;
    auto v = decode_etf(in, options);
    BOOST_REQUIRE_MESSAGE(v, why(v));
    auto out = encode_etf(*v);
    BOOST_REQUIRE(out);
    BOOST_CHECK(*out == in);
  }
}

BOOST_AUTO_TEST_SUITE_END()
