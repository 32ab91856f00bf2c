#include "cluster/head_link_actor.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace pyactor::cluster {

const char* head_link_state::name = "pyactor.head_link";

head_link_state::~head_link_state() {
  if (config.port)
    caf::anon_send_exit(config.port, caf::exit_reason::user_shutdown);
}

namespace {

using self_pointer = caf::stateful_actor<head_link_state>*;
using actors::call_reply;
using actors::call_request;
using actors::make_error_reply;

/// Past a call's own deadline, the head answers `timeout` itself (after its
/// grace); this is how long the link waits beyond that.
constexpr auto call_slack = std::chrono::seconds(30);
constexpr auto question_timeout = std::chrono::seconds(15);
constexpr auto connect_timeout = std::chrono::seconds(3);

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

call_reply lost_reply(head_link_state& st) {
  return make_error_reply(errc::node_down, "lost the connection to the head at " + st.config.where
                                             + " (" + st.lost
                                             + "): the runtime reaches it again by itself once "
                                               "it is back (retrying every 1 to 10 s)");
}

/// Forgets the call `id` through the head (answered); answers its completion.
std::shared_ptr<actors::call_completion> forget(self_pointer self, uint64_t id) {
  auto& st = self->state;
  auto i = st.calls.find(id);
  if (i == st.calls.end())
    return nullptr;
  auto completion = std::move(i->second.sink.completion);
  if (auto* route = st.routes.by_index(i->second.counted))
    route->own->fetch_sub(1);
  if (i->second.request_id != 0)
    st.by_request.erase(i->second.request_id);
  st.calls.erase(i);
  return completion;
}

/// Answers the call `id` once and forgets it; later answers are dropped.
void finish(self_pointer self, uint64_t id, call_reply&& reply) {
  if (auto completion = forget(self, id))
    completion->deliver(std::move(reply));
}

/// Where a call goes: a node reached directly, or nullptr for the head
/// (which routes it itself; `request.pin_slot` may then name a node with
/// slot 0, see head_actor).
node_route* route_of(head_link_state& st, call_request& request) {
  auto direct = [](node_route* r) {
    return r != nullptr && r->up && r->state == node_route::link_state::direct ? r : nullptr;
  };
  if (request.owner_uid != 0) {
    auto* r = direct(st.routes.by_tag(uid_tag_of(request.owner_uid)));
    if (r != nullptr)
      request.pin_slot = actors::any_worker; // the node routes by the uid
    return r;
  }
  if (request.pin_slot != actors::any_worker) {
    auto* r = direct(st.routes.by_index(node_index_of(request.pin_slot)));
    if (r != nullptr && slot_of(request.pin_slot) != 0) {
      request.pin_slot = slot_of(request.pin_slot);
      return r;
    }
    return nullptr;
  }
  auto* best = st.routes.pick();
  if (best == nullptr)
    return nullptr; // the head says why (no workers)
  if (direct(best) != nullptr)
    return best;
  request.pin_slot = cluster_worker_id(best->index, 0); // that node, through the head
  return nullptr;
}

/// Sends one call to its node, or to the head; its sink gets exactly one reply.
void send_call(self_pointer self, call_request&& request, actors::reply_sink sink) {
  auto& st = self->state;
  if (request.timeout_ms == 0)
    request.timeout_ms = static_cast<uint32_t>(
      std::min<int64_t>(st.config.default_timeout.count(), std::numeric_limits<uint32_t>::max()));
  auto wait = std::chrono::milliseconds(request.timeout_ms) + call_slack;
  auto* route = route_of(st, request);
  if (route == nullptr && !st.lost.empty()) {
    sink.completion->deliver(lost_reply(st));
    return;
  }
  auto id = st.config.shared->next_id.fetch_add(1);
  if (route != nullptr) {
    // Booked (reply_book): the node answers the client port, which settles
    // it on the network thread; the link answers it if the node is lost.
    reply_book::entry e;
    e.from = route->manager.address();
    e.completion = std::move(sink.completion);
    e.node = route->index;
    e.request_id = request.request_id;
    e.deadline_ms = now_ms() + wait.count();
    e.own = route->own;
    auto completion = e.completion;
    if (!st.config.shared->book->add(id, std::move(e))) {
      completion->deliver(make_error_reply(errc::node_down, "node " + route->name
                                                              + " was lost while the call was "
                                                                "on its way"));
      return;
    }
    st.outbox[route->index].push_back(batched_call{id, std::move(request)});
    if (!st.flush_pending) {
      st.flush_pending = true;
      self->send(self, flush_tick{});
    }
    return;
  }
  head_link_state::pending_call pc;
  pc.sink = std::move(sink);
  pc.request_id = request.request_id;
  // Through the head to a node this link picked or a pin names: counts there too.
  auto* counted = st.routes.by_index(node_index_of(request.pin_slot));
  if (request.pin_slot == actors::any_worker || request.owner_uid != 0)
    counted = nullptr;
  if (counted != nullptr) {
    pc.counted = counted->index;
    counted->own->fetch_add(1);
  }
  if (pc.request_id != 0)
    st.by_request[pc.request_id] = id;
  st.calls.emplace(id, std::move(pc));
  auto on_error = [self, id](std::string who) {
    return [self, id, who](caf::error& err) {
      finish(self, id,
             make_error_reply(err == caf::sec::request_timeout ? errc::timeout : errc::node_down,
                              who + " did not answer the call: " + caf::to_string(err)));
    };
  };
  self->request(st.config.head, wait, actors::call_atom_v, std::move(request))
    .then([=](call_reply& reply) { finish(self, id, std::move(reply)); },
          on_error("the head at " + st.config.where));
}

/// Sends each node its batch of calls (calls answered meanwhile, by a lost
/// node, are left out).
void flush(self_pointer self) {
  auto& st = self->state;
  st.flush_pending = false;
  auto outbox = std::move(st.outbox);
  st.outbox.clear();
  for (auto& [index, batch] : outbox) {
    auto* route = st.routes.by_index(index);
    auto& book = *st.config.shared->book;
    batch.erase(std::remove_if(batch.begin(), batch.end(),
                               [&](const batched_call& c) { return !book.has(c.id); }),
                batch.end());
    if (batch.empty())
      continue;
    if (route == nullptr || !route->manager) { // cannot happen: a lost node answered them
      for (auto& c : batch)
        if (auto completion = book.take(c.id, nullptr))
          completion->deliver(make_error_reply(errc::node_down, "the node was lost"));
      continue;
    }
    // From the reply port: the node answers it, not the link.
    caf::send_as(st.config.port, route->manager, actors::call_atom_v, std::move(batch));
  }
}

/// Answers `timeout` for direct calls past their deadline (a node that
/// stays connected but never answers).
void expire(self_pointer self) {
  auto& st = self->state;
  for (auto& [index, completion] : st.config.shared->book->take_expired(now_ms())) {
    auto* route = st.routes.by_index(index);
    completion->deliver(make_error_reply(errc::timeout,
                                         "node " + (route ? route->name : std::string{"?"})
                                           + " did not answer the call within its timeout and "
                                           + std::to_string(call_slack.count()) + " s more"));
  }
}

/// Tells the client port the nodes it picks from (as route_table::pick),
/// with the manager of those it may send calls to itself.
void publish_routes(self_pointer self) {
  std::vector<fast_route> usable;
  for (auto& r : self->state.routes.all())
    if (r.up && r.ready > 0) {
      caf::actor manager;
      if (r.state == node_route::link_state::direct && r.manager)
        manager = caf::actor_cast<caf::actor>(r.manager);
      usable.push_back(fast_route{r.index, std::move(manager), r.ready, r.reported, r.own_at_ask,
                                  r.own});
    }
  self->state.config.shared->publish(std::move(usable));
}

/// Connects to the managers of nodes not reached directly yet (a failed
/// node is tried again after `retry_after`).
void connect_nodes(self_pointer self) {
  constexpr int64_t retry_after_ms = 10000;
  auto& st = self->state;
  auto now = now_ms();
  auto& sys = self->home_system();
  for (auto& route : st.routes.all()) {
    using ls = node_route::link_state;
    if (!route.up || route.direct.empty() || route.state == ls::direct
        || route.state == ls::connecting
        || (route.state == ls::failed && now - route.tried_ms < retry_after_ms))
      continue;
    auto ep = parse_endpoint(route.direct);
    if (!ep) {
      route.state = ls::failed;
      route.tried_ms = now;
      continue;
    }
    route.state = ls::connecting;
    route.tried_ms = now;
    auto index = route.index;
    auto node_id = route.node_id;
    auto mm = st.config.tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
    auto failed = [self, index, node_id](const std::string& why) {
      auto* r = self->state.routes.by_index(index);
      if (r == nullptr || r->node_id != node_id || r->state != ls::connecting)
        return;
      r->state = ls::failed;
      if (r->why != why && self->state.config.log)
        self->state.config.log("[client] cannot reach node " + r->name + " directly at "
                               + r->direct + " (" + why + "): its calls go through the head at "
                               + self->state.config.where);
      r->why = why;
    };
    self->request(mm, connect_timeout, caf::connect_atom::value, ep.value().host, ep.value().port)
      .then(
        [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
          if (!ptr) {
            failed("nothing is published there");
            return;
          }
          if (caf::to_string(ptr->node()) != node_id) {
            failed("another process answers there");
            return;
          }
          auto* r = self->state.routes.by_index(index);
          if (r == nullptr || r->node_id != node_id || r->state != ls::connecting)
            return;
          r->manager = caf::actor_cast<node_manager_actor>(std::move(ptr));
          r->state = ls::direct;
          r->why.clear();
          self->state.config.shared->book->revive(r->manager.address());
          self->monitor(r->manager);
          publish_routes(self);
        },
        [=](caf::error& err) { failed(caf::to_string(err)); });
  }
}

/// Takes a fresh report of the nodes (asked when this runtime had `own`
/// calls on each).
void take_reports(self_pointer self, const std::vector<node_report>& reports,
                  const std::vector<std::pair<uint32_t, int64_t>>& own) {
  auto& st = self->state;
  std::vector<std::pair<uint32_t, caf::actor_addr>> linked;
  for (auto& r : st.routes.all())
    if (r.manager)
      linked.emplace_back(r.index, r.manager.address());
  st.routes.update(reports, own);
  // A node replaced by another incarnation: the old one's calls are lost.
  for (auto& [index, addr] : linked)
    if (auto* r = st.routes.by_index(index); r != nullptr && !r->manager)
      for (auto& completion : st.config.shared->book->lose(index, addr))
        completion->deliver(make_error_reply(errc::node_down,
                                             "node " + r->name + " was replaced by a new "
                                                                 "process while the call was "
                                                                 "in flight"));
  connect_nodes(self);
  publish_routes(self);
}

/// A node reached directly went away: its calls get `node_down` now.
void on_node_down(self_pointer self, node_route& route, const caf::error& reason) {
  auto& st = self->state;
  auto addr = route.manager.address();
  route.state = node_route::link_state::none;
  route.manager = nullptr;
  route.up = false; // until the head reports it up again
  publish_routes(self);
  auto why = "node " + route.name + " at " + route.direct + " (reached directly) went down ("
             + caf::to_string(reason) + ") while the call was in flight";
  for (auto& completion : st.config.shared->book->lose(route.index, addr))
    completion->deliver(make_error_reply(errc::node_down, why));
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
  // Calls sent before the question leave first (a drain must see them).
  if (st.flush_pending)
    flush(self);
  if (!st.lost.empty())
    return caf::make_error(caf::sec::request_receiver_down,
                           "lost the head at " + st.config.where + " (" + st.lost + ")");
  auto promise = self->make_response_promise<Answer>();
  auto id = st.config.shared->next_id.fetch_add(1);
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
    if (down.source != st.config.head.address()) {
      for (auto& route : st.routes.all())
        if (route.manager && route.manager.address() == down.source)
          on_node_down(self, route, down.reason);
      return;
    }
    st.lost = caf::to_string(down.reason);
    std::vector<uint64_t> through_head;
    for (auto& entry : st.calls)
      through_head.push_back(entry.first);
    for (auto id : through_head)
      finish(self, id, lost_reply(st));
    auto questions = std::move(st.questions);
    st.questions.clear();
    for (auto& entry : questions)
      entry.second(caf::make_error(caf::sec::request_receiver_down,
                                   "lost the head at " + st.config.where + " (" + st.lost + ")"));
    if (st.config.log)
      st.config.log("[client] lost the head at " + st.config.where + " (" + st.lost
                    + "); trying to reach it again");
    st.reconnect_delay = std::chrono::seconds(1);
    self->delayed_send(self, st.reconnect_delay, reconnect_tick{});
  });
  self->send(self, keepalive_tick{});
  self->send(self, refresh_tick{});
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
      auto& st = self->state;
      uint32_t node = 0;
      caf::actor_addr from;
      if (st.config.shared->book->find_request(request_id, node, from)) {
        flush(self); // the call first, if it still waits in a batch
        if (auto* route = st.routes.by_index(node);
            route != nullptr && route->manager && route->manager.address() == from)
          // Through the port: after the call if it still waits there.
          caf::anon_send(st.config.port, actors::cancel_atom_v, request_id,
                         caf::actor_cast<caf::actor>(route->manager));
        return;
      }
      if (st.by_request.count(request_id) > 0 && st.lost.empty())
        self->send(st.config.head, actors::cancel_atom_v, request_id);
    },
    // -- supervisor side
    [=](actors::ready_atom) { return std::string{}; },
    [=](actors::ready_atom, uint64_t, uint64_t) {
      // nop: no worker reports to a link
    },
    [=](actors::status_atom) {
      auto own = self->state.routes.own_counts();
      return ask_head<std::vector<actors::worker_status>, std::vector<node_report>>(
        self, question_timeout,
        [self, own](std::vector<node_report>& reports) {
          take_reports(self, reports, own);
          return flatten(reports);
        },
        actors::status_atom_v);
    },
    [=](actors::history_atom) {
      using records = std::vector<actors::restart_record>;
      using answers = std::vector<node_restarts>;
      return ask_head<records, answers>(
        self, question_timeout,
        [](answers& per_node) {
          records out;
          for (auto& n : per_node)
            for (auto r : n.records) {
              r.slot = cluster_worker_id(n.index, r.slot);
              out.push_back(std::move(r));
            }
          return out;
        },
        actors::history_atom_v);
    },
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
      auto own = self->state.routes.own_counts();
      return ask_head<reports, reports>(
        self, question_timeout,
        [self, own](reports& rs) {
          take_reports(self, rs, own);
          return std::move(rs);
        },
        actors::status_atom_v);
    },
    [=](actors::history_atom, nodes_atom) {
      using answers = std::vector<node_restarts>;
      return ask_head<answers, answers>(self, question_timeout, as_is<answers>(),
                                        actors::history_atom_v);
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
      auto& st = self->state;
      for (auto& route : st.routes.all())
        if (route.manager)
          self->send(route.manager, keepalive_atom::value);
      if (st.lost.empty())
        self->send(st.config.head, keepalive_atom::value);
      self->delayed_send(self, st.config.keepalive, keepalive_tick{});
    },
    [=](keepalive_atom) {
      // nop: a node's answer to ours (traffic for the connection)
    },
    [=](flush_tick) { flush(self); },
    [=](reconnect_tick) {
      auto& st = self->state;
      auto ep = parse_endpoint(st.config.where);
      if (st.lost.empty() || !ep)
        return;
      auto& sys = self->home_system();
      auto mm = st.config.tls ? sys.openssl_manager().actor_handle()
                              : sys.middleman().actor_handle();
      auto again = [self] {
        auto& st = self->state;
        st.reconnect_delay = std::min<std::chrono::milliseconds>(st.reconnect_delay * 2,
                                                                 std::chrono::seconds(10));
        self->delayed_send(self, st.reconnect_delay, reconnect_tick{});
      };
      self->request(mm, connect_timeout, caf::connect_atom::value, ep.value().host,
                    ep.value().port)
        .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            auto& st = self->state;
            if (!ptr || st.lost.empty()) {
              again();
              return;
            }
            st.config.head = caf::actor_cast<head_actor>(std::move(ptr));
            self->monitor(st.config.head);
            st.lost.clear();
            if (st.config.log)
              st.config.log("[client] reached the head at " + st.config.where + " again");
          },
          [=](caf::error&) { again(); });
    },
    [=](refresh_tick) {
      auto& st = self->state;
      expire(self);
      if (st.lost.empty()) {
        auto own = st.routes.own_counts();
        self->request(st.config.head, question_timeout, nodes_atom::value)
          .then([self, own](std::vector<node_report>& reports) { take_reports(self, reports, own); },
                [](caf::error&) {
                  // the next tick asks again; a lost head shows in the down handler
                });
      }
      self->delayed_send(self, st.config.refresh, refresh_tick{});
    },
  };
}

} // namespace pyactor::cluster
