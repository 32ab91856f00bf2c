// The reply book of a connected runtime (cluster/client_port.hpp) without
// actors or a network: every call booked gets exactly one reply, from the
// node, from its loss, or from its deadline, and none once its node is lost.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "cluster/client_port.hpp"

using namespace pyactor;

namespace {

/// Counts the replies it gets and keeps the last one.
class counting_completion final : public actors::call_completion {
public:
  explicit counting_completion(std::shared_ptr<std::vector<actors::call_reply>> log)
    : log_(std::move(log)) {
    // nop
  }

  ~counting_completion() override { complete_if_abandoned(); }

protected:
  void complete(actors::call_reply&& reply) override { log_->push_back(std::move(reply)); }

private:
  std::shared_ptr<std::vector<actors::call_reply>> log_;
};

struct fixture {
  cluster::reply_book book;
  std::shared_ptr<std::atomic<int64_t>> own = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<std::vector<actors::call_reply>> replies
    = std::make_shared<std::vector<actors::call_reply>>();

  /// Books call `id` for node `node` (no manager address: these tests use
  /// node indexes only) with `deadline` and request id `request_id`.
  bool add(uint64_t id, uint32_t node, int64_t deadline = 1000, uint64_t request_id = 0) {
    cluster::reply_book::entry e;
    e.completion = std::make_shared<counting_completion>(replies);
    e.node = node;
    e.deadline_ms = deadline;
    e.request_id = request_id;
    e.own = own;
    return book.add(id, std::move(e));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(reply_book, fixture)

BOOST_AUTO_TEST_CASE(a_reply_takes_the_call_once_and_counts_it_down) {
  BOOST_REQUIRE(add(1, 1));
  BOOST_REQUIRE(add(2, 1));
  BOOST_CHECK_EQUAL(own->load(), 2);
  auto c = book.take(1, nullptr);
  BOOST_REQUIRE(c);
  BOOST_CHECK(!book.take(1, nullptr)); // a second reply finds nothing
  BOOST_CHECK_EQUAL(own->load(), 1);
  c->deliver(actors::call_reply{});
  BOOST_CHECK_EQUAL(replies->size(), 1u);
  BOOST_CHECK(book.has(2));
  BOOST_CHECK(!book.has(1));
}

BOOST_AUTO_TEST_CASE(a_lost_node_takes_every_call_of_its_batch_in_flight) {
  for (uint64_t id = 1; id <= 32; ++id) // a batch in flight on node 1
    BOOST_REQUIRE(add(id, 1));
  BOOST_REQUIRE(add(100, 2));
  auto lost = book.lose(1, caf::actor_addr{});
  BOOST_CHECK_EQUAL(lost.size(), 32u);
  for (auto& c : lost)
    c->deliver(actors::make_error_reply(errc::node_down, "lost"));
  BOOST_CHECK_EQUAL(replies->size(), 32u);
  // Replies of that batch arriving late find nothing: exactly one reply each.
  for (uint64_t id = 1; id <= 32; ++id)
    BOOST_CHECK(!book.take(id, nullptr));
  BOOST_CHECK(book.has(100)); // the other node's call stays
  BOOST_CHECK_EQUAL(own->load(), 1);
}

BOOST_AUTO_TEST_CASE(a_call_booked_after_its_manager_was_lost_is_refused_until_revived) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto manager = sys.spawn([]() -> caf::behavior { return {[](int) {}}; });
  auto addr = manager.address();
  auto booked = [&](uint64_t id) {
    cluster::reply_book::entry e;
    e.from = addr;
    e.completion = std::make_shared<counting_completion>(replies);
    e.node = 9;
    e.own = own;
    return book.add(id, std::move(e));
  };
  BOOST_REQUIRE(booked(1));
  auto lost = book.lose(9, addr);
  BOOST_REQUIRE_EQUAL(lost.size(), 1u);
  lost[0]->deliver(actors::make_error_reply(errc::node_down, "lost"));
  BOOST_CHECK_EQUAL(replies->size(), 1u);
  // The client port picked the node before it was lost: refused, not booked.
  BOOST_CHECK(!booked(2));
  BOOST_CHECK(!book.has(2));
  BOOST_CHECK_EQUAL(own->load(), 0);
  BOOST_CHECK_EQUAL(replies->size(), 2u); // call 2's completion, dropped, answered itself
  book.revive(addr); // reached again (a link cut and restored)
  BOOST_CHECK(booked(3));
  BOOST_CHECK(book.take(3, &addr));
  caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(expired_calls_are_taken_with_their_node) {
  BOOST_REQUIRE(add(1, 3, 500));
  BOOST_REQUIRE(add(2, 4, 2000));
  auto late = book.take_expired(1000);
  BOOST_REQUIRE_EQUAL(late.size(), 1u);
  BOOST_CHECK_EQUAL(late[0].first, 3u);
  BOOST_CHECK(!book.has(1));
  BOOST_CHECK(book.has(2));
}

BOOST_AUTO_TEST_CASE(a_cancel_finds_the_node_of_a_booked_call_until_it_is_answered) {
  BOOST_REQUIRE(add(7, 5, 1000, 42));
  uint32_t node = 0;
  caf::actor_addr from;
  BOOST_CHECK(book.find_request(42, node, from));
  BOOST_CHECK_EQUAL(node, 5u);
  BOOST_CHECK(!book.find_request(43, node, from));
  book.take(7, nullptr)->deliver(actors::call_reply{});
  BOOST_CHECK(!book.find_request(42, node, from));
}

BOOST_AUTO_TEST_CASE(a_book_destroyed_with_calls_answers_each_once) {
  {
    cluster::reply_book local;
    cluster::reply_book::entry e;
    e.completion = std::make_shared<counting_completion>(replies);
    BOOST_REQUIRE(local.add(1, std::move(e)));
  }
  BOOST_REQUIRE_EQUAL(replies->size(), 1u);
  BOOST_CHECK(replies->front().code != 0);
}

BOOST_AUTO_TEST_SUITE_END()
