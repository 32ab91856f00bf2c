#include "cluster/node_manager_actor.hpp"

#include <csignal>

#include <unistd.h>

#include <caf/all.hpp>

namespace pyactor::cluster {

const char* node_manager_state::name = "pyactor.node_manager";

namespace {

using self_pointer = node_manager_actor::stateful_pointer<node_manager_state>;

/// Sends the pool's reply back to the manager as a local `pool_event`.
class forward_completion final : public actors::call_completion {
public:
  forward_completion(caf::actor manager, uint64_t id) : manager_(std::move(manager)), id_(id) {
    // nop
  }

  ~forward_completion() override { complete_if_abandoned(); }

protected:
  void complete(actors::call_reply&& reply) override {
    pool_event ev;
    ev.id = id_;
    ev.reply = std::move(reply);
    caf::anon_send(manager_, std::move(ev));
  }

private:
  caf::actor manager_;
  uint64_t id_;
};

/// Asks the pool's bridge `(xs..., id, self)`; `done` gets its pool_event.
template <class... Ts>
void ask_pool(self_pointer self, std::function<void(pool_event&)> done, Ts&&... xs) {
  auto& st = self->state;
  auto id = st.next_id++;
  st.waiters.emplace(id, std::move(done));
  // anon_send: the bridge lives in the pool's system (see pool_handles).
  caf::anon_send(st.pool.bridge, std::forward<Ts>(xs)..., id, caf::actor_cast<caf::actor>(self));
}

/// The sender of the current message, monitored from its first call on.
caf::actor_addr track_sender(self_pointer self) {
  auto sender = self->current_sender();
  caf::actor_addr from = sender ? sender->address() : caf::actor_addr{};
  if (from && self->state.senders.insert(from).second)
    self->monitor(from);
  return from;
}

/// Hands `request` to the pool under a fresh id; `pc` says where its reply goes.
void submit(self_pointer self, actors::call_request&& request,
            node_manager_state::pending_call&& pc) {
  auto& st = self->state;
  auto id = st.next_id++;
  pc.sender_id = request.request_id;
  st.calls.emplace(id, std::move(pc));
  request.request_id = id;
  auto sink = actors::reply_sink{
    std::make_shared<forward_completion>(caf::actor_cast<caf::actor>(self), id)};
  // anon_send: the pool's actors run on the pool's own threads.
  caf::anon_send(st.pool.scheduler, actors::call_atom_v, std::move(request), std::move(sink));
}

/// Queues the reply to a batched call; one flush sends each sender's batch.
void queue_reply(self_pointer self, const caf::actor& to, uint64_t id, actors::call_reply&& reply) {
  auto& st = self->state;
  st.outbox[to].push_back(batched_reply{id, std::move(reply)});
  if (!st.flush_pending) {
    st.flush_pending = true;
    self->send(self, flush_tick{});
  }
}

} // namespace

node_manager_state::~node_manager_state() {
  for (auto& entry : calls)
    if (!entry.second.reply_to && entry.second.promise.pending())
      entry.second.promise.deliver(
        actors::make_error_reply(errc::node_down, "the node stopped before the call finished"));
  for (auto& entry : statuses)
    if (entry.second.pending())
      entry.second.deliver(std::vector<actors::worker_status>{});
  auto waiting = std::move(waiters);
  for (auto& entry : waiting) {
    pool_event none; // the pool never answered: no ids
    entry.second(none);
  }
}

node_manager_actor::behavior_type node_manager_behavior(self_pointer self, pool_handles pool) {
  self->state.pool = std::move(pool);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    if (st.senders.erase(down.source) == 0)
      return;
    // Its calls still running are cancelled, as a cancel it would have sent.
    for (auto& [id, pc] : st.calls)
      if (pc.sender == down.source)
        caf::anon_send(st.pool.scheduler, actors::cancel_atom_v, id);
  });
  return {
    [=](actors::call_atom, actors::call_request& request)
      -> caf::typed_response_promise<actors::call_reply> {
      // Before make_response_promise, which takes the sender out.
      auto from = track_sender(self);
      auto promise = self->make_response_promise<actors::call_reply>();
      node_manager_state::pending_call pc;
      pc.promise = promise;
      pc.sender = from;
      submit(self, std::move(request), std::move(pc));
      return promise;
    },
    [=](actors::call_atom, std::vector<batched_call>& batch) {
      auto from = track_sender(self);
      auto reply_to = caf::actor_cast<caf::actor>(self->current_sender());
      if (!reply_to)
        return; // nobody to answer
      for (auto& entry : batch) {
        node_manager_state::pending_call pc;
        pc.sender = from;
        pc.reply_to = reply_to;
        pc.reply_id = entry.id;
        submit(self, std::move(entry.request), std::move(pc));
      }
    },
    [=](flush_tick) {
      auto& st = self->state;
      st.flush_pending = false;
      auto outbox = std::move(st.outbox);
      st.outbox.clear();
      for (auto& [to, replies] : outbox)
        caf::send_as(caf::actor_cast<caf::actor>(self), to, actors::call_atom_v, std::move(replies));
    },
    [=](actors::status_atom) -> caf::typed_response_promise<std::vector<actors::worker_status>> {
      auto& st = self->state;
      auto promise = self->make_response_promise<std::vector<actors::worker_status>>();
      auto id = st.next_id++;
      st.statuses.emplace(id, promise);
      // anon_send: the bridge lives in the pool's system (see pool_handles).
      caf::anon_send(st.pool.bridge, actors::status_atom_v, id, caf::actor_cast<caf::actor>(self));
      return promise;
    },
    [=](actors::cancel_atom, uint64_t request_id) {
      auto sender = self->current_sender();
      if (!sender || request_id == 0)
        return;
      for (auto& [id, pc] : self->state.calls)
        if (pc.sender_id == request_id && pc.sender == sender->address()) {
          caf::anon_send(self->state.pool.scheduler, actors::cancel_atom_v, id);
          return;
        }
    },
    [=](actors::grow_atom, uint32_t n) {
      auto promise = self->make_response_promise<std::vector<uint64_t>>();
      ask_pool(self, [=](pool_event& ev) mutable { promise.deliver(std::move(ev.worker_ids)); },
               actors::grow_atom_v, n);
      return promise;
    },
    [=](actors::shrink_atom, std::vector<uint64_t>& slots) {
      auto promise = self->make_response_promise<std::vector<uint64_t>>();
      ask_pool(self, [=](pool_event& ev) mutable { promise.deliver(std::move(ev.worker_ids)); },
               actors::shrink_atom_v, std::move(slots));
      return promise;
    },
    [=](drain_atom) {
      auto promise = self->make_response_promise<std::string>();
      // Every slot, then all of them removed (their calls finish first).
      ask_pool(self, [=](pool_event& status) mutable {
        std::vector<uint64_t> slots;
        for (auto& w : status.workers)
          slots.push_back(w.slot);
        ask_pool(self, [=](pool_event&) mutable {
          promise.deliver(std::string{});
          // Stop once the answer is on its way (run_node waits for SIGTERM).
          self->delayed_send(self, std::chrono::milliseconds(200), stop_tick{});
        }, actors::shrink_atom_v, std::move(slots));
      }, actors::status_atom_v);
      return promise;
    },
    [=](stop_tick) { ::kill(::getpid(), SIGTERM); },
    [=](keepalive_atom) {
      // The traffic is the point; the answer keeps the other direction busy.
      if (auto sender = self->current_sender(); sender && sender->node() != self->node())
        caf::anon_send(caf::actor_cast<caf::actor>(sender), keepalive_atom::value);
    },
    [=](pool_event& ev) {
      auto& st = self->state;
      if (auto i = st.waiters.find(ev.id); i != st.waiters.end()) {
        auto done = std::move(i->second);
        st.waiters.erase(i);
        done(ev);
        return;
      }
      if (ev.kind == pool_event::status) {
        if (auto i = st.statuses.find(ev.id); i != st.statuses.end()) {
          i->second.deliver(std::move(ev.workers));
          st.statuses.erase(i);
        }
        return;
      }
      if (auto i = st.calls.find(ev.id); i != st.calls.end()) {
        if (i->second.reply_to)
          queue_reply(self, i->second.reply_to, i->second.reply_id, std::move(ev.reply));
        else
          i->second.promise.deliver(std::move(ev.reply));
        st.calls.erase(i);
      }
    },
  };
}

} // namespace pyactor::cluster
