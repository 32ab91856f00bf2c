// The gateway's distribution frames (dist_frame.hpp): term skipping against
// the ETF codec's own encodings, control messages as an Erlang node writes
// them, the frames the gateway writes, and malformed frames refused.
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>
#include <vector>

#include "pyactor/codec/etf.hpp"
#include "pyactor/erlbridge/dist_frame.hpp"
#include "pyactor/erlbridge/protocol.hpp"

using namespace pyactor;
using namespace pyactor::erlbridge;

namespace {

using bytes_t = std::vector<uint8_t>;

bytes_t term_bytes(const value& v) {
  auto e = codec::encode_etf(v);
  BOOST_REQUIRE(e.ok());
  return bytes_t(e.value().begin() + 1, e.value().end());
}

void append(bytes_t& out, const bytes_t& x) {
  out.insert(out.end(), x.begin(), x.end());
}

void append_atom(bytes_t& out, const std::string& name) {
  out.push_back(119);
  out.push_back(static_cast<uint8_t>(name.size()));
  out.insert(out.end(), name.begin(), name.end());
}

bytes_t pid_bytes(const std::string& node, uint8_t num) {
  bytes_t out{88};
  append_atom(out, node);
  for (uint8_t b : {0, 0, 0, static_cast<int>(num), 0, 0, 0, 0, 0, 0, 0, 9})
    out.push_back(b);
  return out;
}

/// A frame body: 112, the control tuple (given its elements' bytes), then
/// the message (version byte included) if any.
bytes_t frame(std::initializer_list<bytes_t> elements, const bytes_t& message = {}) {
  bytes_t out{112, 131, 104, static_cast<uint8_t>(elements.size())};
  for (auto& e : elements)
    append(out, e);
  append(out, message);
  return out;
}

bytes_t small_int(uint8_t x) {
  return {97, x};
}

bytes_t atom_bytes(const std::string& name) {
  bytes_t out;
  append_atom(out, name);
  return out;
}

const dist_identity self{"pyactor@host", 0x01020304};

} // namespace

BOOST_AUTO_TEST_SUITE(erlbridge_frames)

BOOST_AUTO_TEST_CASE(skip_term_spans_exactly_one_term_of_every_kind) {
  std::vector<value> values = {
    value{}, value{true}, value{int64_t{7}}, value{int64_t{-300}}, value{int64_t{1} << 40},
    value{1.5}, value{std::string(300, 'x')}, value{atom{"ok"}},
    value{list{1, "two", list{3.0, list{}}}}, value{tuple{{atom{"a"}, 1, dict{}}}},
    value{dict{{{atom{"k"}, list{1, 2}}, {"s", tuple{}}}}},
  };
  list big;
  for (int i = 0; i < 300; ++i)
    big.push_back(tuple{{i, std::to_string(i)}});
  values.push_back(value{tuple{std::vector<value>(big.begin(), big.end())}}); // LARGE_TUPLE
  values.push_back(value{big});
  for (auto& v : values) {
    auto b = term_bytes(v);
    BOOST_CHECK_EQUAL(skip_term(b.data(), b.size(), 0), b.size());
    // every proper prefix is incomplete
    for (size_t cut = 0; cut < b.size(); cut += 1 + cut / 16)
      BOOST_CHECK_EQUAL(skip_term(b.data(), cut, 0), 0u);
    // with a byte after it, the term still ends where it ends
    auto more = b;
    more.push_back(106);
    BOOST_CHECK_EQUAL(skip_term(more.data(), more.size(), 0), b.size());
  }
  auto p = pid_bytes("a@b", 3);
  BOOST_CHECK_EQUAL(skip_term(p.data(), p.size(), 0), p.size());
  auto r = encode_own_ref(self, 99);
  BOOST_CHECK_EQUAL(skip_term(r.data(), r.size(), 0), r.size());
}

BOOST_AUTO_TEST_CASE(skip_term_refuses_lengths_past_the_end_and_unknown_tags) {
  const bytes_t bad[] = {
    {109, 0xff, 0xff, 0xff, 0xff, 1},  // a binary longer than the input
    {108, 0x7f, 0xff, 0xff, 0xff, 106}, // a list claiming 2^31 elements
    {116, 0, 0, 0, 9},                  // a map with nothing after it
    {105, 0xff, 0xff, 0xff, 0xff},      // a huge tuple
    {90, 0, 9, 119, 1, 'a'},            // a ref with 9 words
    {255}, {82, 1},                     // an unknown tag, an atom cache ref
    {112, 0, 0, 0, 2},                  // a fun whose size is below its header
  };
  for (auto& b : bad)
    BOOST_CHECK_EQUAL(skip_term(b.data(), b.size(), 0), 0u);
}

BOOST_AUTO_TEST_CASE(reg_send_gives_the_name_sender_and_payload) {
  auto from = pid_bytes("caller@host", 5);
  bytes_t message{131};
  append(message, term_bytes(tuple{{atom{"hello"}, 1}}));
  auto f = frame({small_int(6), from, atom_bytes(""), atom_bytes("py")}, message);
  dist_control c;
  std::string problem;
  BOOST_REQUIRE_MESSAGE(parse_dist_frame(f.data(), f.size(), c, problem), problem);
  BOOST_CHECK_EQUAL(c.op, dop::reg_send);
  BOOST_CHECK_EQUAL(c.to_name, "py");
  BOOST_CHECK(bytes_t(f.begin() + c.from.at, f.begin() + c.from.at + c.from.size) == from);
  BOOST_REQUIRE(c.payload > 0);
  BOOST_CHECK(bytes_t(f.begin() + c.payload, f.end()) == message);

  // REG_SEND_TT: a trace token (any term) after the name
  auto tt = frame({small_int(16), from, atom_bytes(""), atom_bytes("py"),
                   term_bytes(tuple{{1, atom{"x"}, list{2}}})},
                  message);
  BOOST_REQUIRE_MESSAGE(parse_dist_frame(tt.data(), tt.size(), c, problem), problem);
  BOOST_CHECK_EQUAL(c.to_name, "py");
  BOOST_CHECK(bytes_t(tt.begin() + c.payload, tt.end()) == message);
}

BOOST_AUTO_TEST_CASE(monitor_exit_carries_our_ref_back) {
  auto watched = pid_bytes("caller@host", 5);
  auto watcher = encode_own_pid(self, 1);
  auto ref = encode_own_ref(self, (uint64_t{1} << 40) + 12345);
  auto f = frame({small_int(21), watched, watcher, ref, atom_bytes("killed")});
  dist_control c;
  std::string problem;
  BOOST_REQUIRE_MESSAGE(parse_dist_frame(f.data(), f.size(), c, problem), problem);
  BOOST_CHECK_EQUAL(c.op, dop::monitor_p_exit);
  BOOST_CHECK_EQUAL(c.payload, 0u);
  uint64_t id = 0;
  BOOST_REQUIRE(parse_own_ref(f.data() + c.ref.at, c.ref.size, self, id));
  BOOST_CHECK_EQUAL(id, (uint64_t{1} << 40) + 12345);
  // another node's ref, or another incarnation's, is not ours
  BOOST_CHECK(!parse_own_ref(ref.data(), ref.size(), dist_identity{"other@host", self.creation},
                             id));
  BOOST_CHECK(!parse_own_ref(ref.data(), ref.size(), dist_identity{self.node, 7}, id));
  BOOST_CHECK(!parse_own_ref(watched.data(), watched.size(), self, id));
}

BOOST_AUTO_TEST_CASE(frames_the_gateway_writes_parse_back) {
  auto to = pid_bytes("caller@host", 5);
  bytes_t message{131};
  append(message, term_bytes(tuple{{atom{"ok"}, 42}}));
  bytes_t out;
  append_send_head(out, to.data(), to.size(), message.size());
  append(out, message);
  uint32_t len = (uint32_t{out[0]} << 24) | (uint32_t{out[1]} << 16) | (uint32_t{out[2]} << 8)
                 | out[3];
  BOOST_REQUIRE_EQUAL(len + 4u, out.size());
  dist_control c;
  std::string problem;
  BOOST_REQUIRE_MESSAGE(parse_dist_frame(out.data() + 4, len, c, problem), problem);
  BOOST_CHECK_EQUAL(c.op, dop::send);
  BOOST_CHECK(bytes_t(out.begin() + 4 + c.to.at, out.begin() + 4 + c.to.at + c.to.size) == to);
  BOOST_CHECK(bytes_t(out.begin() + 4 + c.payload, out.end()) == message);

  bytes_t mon;
  auto ref = encode_own_ref(self, 7);
  append_monitor_frame(mon, dop::monitor_p, encode_own_pid(self, 1), to.data(), to.size(), ref);
  BOOST_REQUIRE_MESSAGE(parse_dist_frame(mon.data() + 4, mon.size() - 4, c, problem), problem);
  BOOST_CHECK_EQUAL(c.op, dop::monitor_p);
  BOOST_CHECK(bytes_t(mon.begin() + 4 + c.to.at, mon.begin() + 4 + c.to.at + c.to.size) == to);
  uint64_t id = 0;
  BOOST_CHECK(parse_own_ref(mon.data() + 4 + c.ref.at, c.ref.size, self, id) && id == 7);
  // the pid we monitor from is a well-formed pid of ours
  auto own = encode_own_pid(self, 1);
  erl_pid p;
  BOOST_REQUIRE(parse_pid(own.data(), own.size(), p));
  BOOST_CHECK_EQUAL(p.node, self.node);
  BOOST_CHECK_EQUAL(p.creation, self.creation);
}

BOOST_AUTO_TEST_CASE(malformed_frames_are_refused_and_mutations_never_crash) {
  auto from = pid_bytes("caller@host", 5);
  bytes_t message{131};
  append(message, term_bytes(list{1, "two", 3.0}));
  auto good = frame({small_int(6), from, atom_bytes(""), atom_bytes("py")}, message);
  dist_control c;
  std::string problem;
  const bytes_t bad[] = {
    {},
    {113, 131, 104, 1, 97, 6},                                   // not pass-through
    {112, 104, 1, 97, 6},                                        // no version byte
    {112, 131, 106},                                             // control is not a tuple
    frame({atom_bytes("x")}),                                    // op is not an integer
    frame({small_int(6), from, atom_bytes("")}, message),        // REG_SEND arity 3
    frame({small_int(6), atom_bytes("x"), atom_bytes(""), atom_bytes("py")}, message),
    frame({small_int(6), from, atom_bytes(""), atom_bytes("py")}), // no message
    bytes_t(good.begin(), good.end() - static_cast<long>(message.size()) - 1),
  };
  for (auto& b : bad)
    BOOST_CHECK(!parse_dist_frame(b.data(), b.size(), c, problem));
  std::mt19937 rng{4242};
  for (int round = 0; round < 20000; ++round) {
    auto m = good;
    auto flips = 1 + rng() % 3;
    for (unsigned f = 0; f < flips; ++f)
      m[rng() % m.size()] = static_cast<uint8_t>(rng());
    if (rng() % 3 == 0)
      m.resize(rng() % m.size());
    if (parse_dist_frame(m.data(), m.size(), c, problem)) {
      BOOST_CHECK_LE(c.from.at + c.from.size, m.size());
      BOOST_CHECK_LE(c.payload, m.size());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
