#include "cluster/head_link_actor.hpp"

#include <caf/all.hpp>

namespace pyactor::cluster {

const char* head_link_state::name = "pyactor.head_link";

namespace {

using self_pointer = caf::stateful_actor<head_link_state>*;
using actors::call_reply;
using actors::call_request;
using actors::make_error_reply;

/// Past a call's own deadline, the head answers `timeout` itself (after its
/// grace); this is how long the link waits beyond that.
constexpr auto call_slack = std::chrono::seconds(30);
constexpr auto question_timeout = std::chrono::seconds(15);

call_reply lost_reply(head_link_state& st) {
  return make_error_reply(errc::node_down, "lost the connection to the head at " + st.config.where
                                             + " (" + st.lost
                                             + "): connect again once it is back");
}

/// Sends one call to the head; `done` gets exactly one reply.
void send_call(self_pointer self, call_request&& request, actors::reply_sink sink) {
  auto& st = self->state;
  if (!st.lost.empty()) {
    sink.completion->deliver(lost_reply(st));
    return;
  }
  if (request.timeout_ms == 0)
    request.timeout_ms = static_cast<uint32_t>(
      std::min<int64_t>(st.config.default_timeout.count(), std::numeric_limits<uint32_t>::max()));
  auto wait = std::chrono::milliseconds(request.timeout_ms) + call_slack;
  auto id = st.next_id++;
  st.calls.emplace(id, sink);
  auto where = st.config.where;
  auto finish = [self, id](call_reply&& reply) {
    auto i = self->state.calls.find(id);
    if (i == self->state.calls.end())
      return;
    auto completion = std::move(i->second.completion);
    self->state.calls.erase(i);
    completion->deliver(std::move(reply));
  };
  self->request(st.config.head, wait, actors::call_atom_v, std::move(request))
    .then([=](call_reply& reply) { finish(std::move(reply)); },
          [=](caf::error& err) {
            finish(make_error_reply(err == caf::sec::request_timeout ? errc::timeout
                                                                     : errc::node_down,
                                    "the head at " + where + " did not answer the call: "
                                      + caf::to_string(err)));
          });
}

/// A completion that answers a response promise (the request form of `call`).
class promise_completion final : public actors::call_completion {
public:
  explicit promise_completion(caf::response_promise promise) : promise_(std::move(promise)) {
    // nop
  }

  ~promise_completion() override { complete_if_abandoned(); }

protected:
  void complete(call_reply&& reply) override { promise_.deliver(std::move(reply)); }

private:
  caf::response_promise promise_;
};

/// Every worker of every node that is up, with cluster worker ids.
std::vector<actors::worker_status> flatten(const std::vector<node_report>& reports) {
  std::vector<actors::worker_status> out;
  for (auto& r : reports)
    if (r.state == "up")
      for (auto w : r.workers) {
        w.slot = cluster_worker_id(r.index, w.slot);
        out.push_back(std::move(w));
      }
  return out;
}

/// Asks the head `xs...` and answers the caller `adapt(reply)`, or the
/// error; a lost head fails at once.
template <class Answer, class Reply, class Timeout, class... Ts>
caf::result<Answer> ask_head(self_pointer self, Timeout timeout,
                             std::function<Answer(Reply&)> adapt, Ts&&... xs) {
  auto& st = self->state;
  if (!st.lost.empty())
    return caf::make_error(caf::sec::request_receiver_down,
                           "lost the head at " + st.config.where + " (" + st.lost + ")");
  auto promise = self->make_response_promise<Answer>();
  auto id = st.next_id++;
  st.questions.emplace(id, [promise](caf::error err) mutable { promise.deliver(std::move(err)); });
  self->request(st.config.head, timeout, std::forward<Ts>(xs)...)
    .then(
      [=](Reply& x) mutable {
        if (self->state.questions.erase(id) > 0)
          promise.deliver(adapt(x));
      },
      [=](caf::error& err) {
        auto i = self->state.questions.find(id);
        if (i == self->state.questions.end())
          return;
        auto fail = std::move(i->second);
        self->state.questions.erase(i);
        fail(std::move(err));
      });
  return promise;
}

template <class T>
std::function<T(T&)> as_is() {
  return [](T& x) { return std::move(x); };
}

} // namespace

caf::behavior head_link_behavior(self_pointer self, head_link_config config) {
  self->state.config = std::move(config);
  self->monitor(self->state.config.head);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    if (down.source != st.config.head.address())
      return;
    st.lost = caf::to_string(down.reason);
    auto calls = std::move(st.calls);
    st.calls.clear();
    for (auto& entry : calls)
      entry.second.completion->deliver(lost_reply(st));
    auto questions = std::move(st.questions);
    st.questions.clear();
    for (auto& entry : questions)
      entry.second(caf::make_error(caf::sec::request_receiver_down,
                                   "lost the head at " + st.config.where + " (" + st.lost + ")"));
  });
  self->send(self, keepalive_tick{});
  using ids = std::vector<uint64_t>;
  return {
    // -- scheduler side
    [=](actors::call_atom, call_request& request, actors::reply_sink& sink) {
      send_call(self, std::move(request), std::move(sink));
    },
    [=](actors::call_atom, call_request& request) {
      auto promise = self->make_response_promise();
      send_call(self, std::move(request),
                actors::reply_sink{std::make_shared<promise_completion>(promise)});
      return promise;
    },
    [=](actors::cancel_atom, uint64_t request_id) {
      if (self->state.lost.empty())
        self->send(self->state.config.head, actors::cancel_atom_v, request_id);
    },
    // -- supervisor side
    [=](actors::ready_atom) { return std::string{}; },
    [=](actors::ready_atom, uint64_t, uint64_t) {
      // nop: no worker reports to a link
    },
    [=](actors::status_atom) {
      return ask_head<std::vector<actors::worker_status>, std::vector<node_report>>(
        self, question_timeout, flatten, actors::status_atom_v);
    },
    [=](actors::history_atom) { return std::vector<actors::restart_record>{}; },
    [=](actors::grow_atom, uint32_t n) {
      return ask_head<ids, ids>(self, std::chrono::minutes(3), as_is<ids>(), actors::grow_atom_v,
                                n, std::string{});
    },
    [=](actors::shrink_atom, uint32_t n) {
      return ask_head<ids, ids>(self, caf::infinite, as_is<ids>(), actors::shrink_atom_v, n);
    },
    [=](actors::shrink_atom, ids& which) {
      return ask_head<ids, ids>(self, caf::infinite, as_is<ids>(), actors::shrink_atom_v,
                                std::move(which));
    },
    // -- cluster
    [=](actors::status_atom, nodes_atom) {
      using reports = std::vector<node_report>;
      return ask_head<reports, reports>(self, question_timeout, as_is<reports>(),
                                        actors::status_atom_v);
    },
    [=](actors::grow_atom, uint32_t n, std::string& node) {
      return ask_head<ids, ids>(self, std::chrono::minutes(3), as_is<ids>(), actors::grow_atom_v,
                                n, std::move(node));
    },
    [=](drain_atom, std::string& node) {
      return ask_head<std::string, std::string>(self, caf::infinite, as_is<std::string>(),
                                                drain_atom::value, std::move(node));
    },
    [=](keepalive_tick) {
      if (self->state.lost.empty()) {
        self->send(self->state.config.head, keepalive_atom::value);
        self->delayed_send(self, self->state.config.keepalive, keepalive_tick{});
      }
    },
  };
}

} // namespace pyactor::cluster
