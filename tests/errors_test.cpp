// One error taxonomy: `errc` is the public one; the worker's status byte
// (worker/protocol.hpp) is mapped to it in one place, `reply_code_of`.
#include <boost/test/unit_test.hpp>

#include <set>

#include "actors/worker_actor.hpp"
#include "pyactor/error.hpp"
#include "worker/protocol.hpp"

using namespace pyactor;

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(every_status_byte_maps_to_a_named_errc) {
  BOOST_CHECK_EQUAL(actors::reply_code_of(static_cast<uint8_t>(worker::status::ok)), 0);
  // Every byte a worker (or anything on its socket) can send, known or not,
  // becomes a code the API names; none but ok means success.
  for (int byte = 1; byte < 256; ++byte) {
    auto code = actors::reply_code_of(static_cast<uint8_t>(byte));
    BOOST_CHECK_NE(code, 0);
    BOOST_CHECK_NE(std::string{to_string(static_cast<errc>(code))}, "unknown_error");
  }
  // The statuses a worker defines keep their meaning.
  BOOST_CHECK_EQUAL(actors::reply_code_of(static_cast<uint8_t>(worker::status::python_exception)),
                    static_cast<uint8_t>(errc::python_exception));
  BOOST_CHECK_EQUAL(actors::reply_code_of(static_cast<uint8_t>(worker::status::stale_ref)),
                    static_cast<uint8_t>(errc::stale_ref));
  BOOST_CHECK_EQUAL(actors::reply_code_of(static_cast<uint8_t>(worker::status::cross_worker_ref)),
                    static_cast<uint8_t>(errc::cross_worker_ref));
  BOOST_CHECK_EQUAL(actors::reply_code_of(static_cast<uint8_t>(worker::status::overloaded)),
                    static_cast<uint8_t>(errc::overloaded));
}

BOOST_AUTO_TEST_CASE(every_errc_has_a_distinct_name_that_parses_back) {
  std::set<std::string> names;
  for (int code = 1; code <= static_cast<int>(errc::not_running); ++code) {
    auto x = static_cast<errc>(code);
    std::string name = to_string(x);
    BOOST_CHECK_NE(name, "unknown_error");
    BOOST_CHECK(names.insert(name).second);
    errc back{};
    BOOST_REQUIRE(from_string(name, back));
    BOOST_CHECK(back == x);
  }
  errc untouched = errc::timeout;
  BOOST_CHECK(!from_string("no_such_code", untouched));
  BOOST_CHECK(untouched == errc::timeout);
}

BOOST_AUTO_TEST_SUITE_END()
