// Pieces the gateway-protocol suites share (erlbridge_protocol,
// erlbridge_batch, erlbridge_bookkeeping): a message's bytes as sent, ETF of
// a value, a caller's pid, and a Python service that holds every call until
// the test completes it. Each suite keeps its own transport (what it records
// differs).
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pyactor/codec/etf.hpp"
#include "pyactor/erlbridge/protocol.hpp"

namespace pyactor::test {

using bytes_t = std::vector<uint8_t>;

/// The bytes `m` puts on the wire after the distribution header: its head,
/// then its body from `body_from` on.
inline bytes_t message_bytes(const erlbridge::outgoing_message& m) {
  bytes_t out = m.head;
  out.insert(out.end(), m.body.begin() + static_cast<long>(m.body_from), m.body.end());
  return out;
}

/// `v` in the external term format (the test fails if it has none).
inline bytes_t etf(const value& v) {
  auto e = codec::encode_etf(v);
  BOOST_REQUIRE(e.ok());
  return e.value();
}

/// <'caller@host'.Num.0> as a value.
inline value pid_value(uint32_t num = 42) {
  const std::string node = "caller@host";
  // A sized vector filled by index: inserts after a braced initializer
  // trip GCC 12's -Wstringop-overflow false positive.
  bytes_t b(4 + node.size() + 12);
  size_t at = 0;
  auto put = [&](uint8_t x) { b[at++] = x; };
  for (uint8_t x : {131, 88, 119, 11}) // version, NEW_PID_EXT, SMALL_ATOM_UTF8_EXT, length
    put(x);
  for (char c : node)
    put(static_cast<uint8_t>(c));
  for (uint8_t x : {static_cast<uint8_t>(num >> 24), static_cast<uint8_t>(num >> 16),
                    static_cast<uint8_t>(num >> 8), static_cast<uint8_t>(num)})
    put(x);
  for (uint8_t x : {0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44}) // serial, creation
    put(x);
  auto v = codec::decode_etf(b);
  BOOST_REQUIRE(v.ok());
  return v.value();
}

/// Holds every call until the test completes it; records cancels.
struct holding_service : erlbridge::python_service {
  std::vector<std::pair<erlbridge::bridge_request, completion>> calls;
  std::vector<uint64_t> cancelled;
  uint64_t submit(erlbridge::bridge_request req, completion done) override {
    calls.emplace_back(std::move(req), std::move(done));
    return calls.size();
  }
  void cancel(uint64_t handle) override { cancelled.push_back(handle); }
};

} // namespace pyactor::test
