#include "cluster/node_manager_actor.hpp"

#include <csignal>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

namespace pyactor::cluster {

const char* node_manager_state::name = "pyactor.node_manager";

namespace {

using self_pointer = node_manager_core::stateful_pointer<node_manager_state>;

/// Asks the pool's bridge `(xs..., id, self)`; `done` gets its pool_event.
template <class... Ts>
void ask_pool(self_pointer self, std::function<void(pool_event&)> done, Ts&&... xs) {
  auto& st = self->state;
  auto id = st.next_id++;
  st.waiters.emplace(id, std::move(done));
  // anon_send: the bridge lives in the pool's system (see pool_handles).
  caf::anon_send(st.pool.bridge, std::forward<Ts>(xs)..., id, caf::actor_cast<caf::actor>(self));
}

} // namespace

node_manager_state::~node_manager_state() {
  for (auto& entry : statuses)
    if (entry.second.pending())
      entry.second.deliver(std::vector<actors::worker_status>{});
  auto waiting = std::move(waiters);
  for (auto& entry : waiting) {
    pool_event none; // the pool never answered: no ids
    entry.second(none);
  }
}

node_manager_core::behavior_type node_manager_behavior(self_pointer self, pool_handles pool,
                                                       std::shared_ptr<port_calls> calls) {
  self->state.pool = std::move(pool);
  self->state.calls = std::move(calls);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    // A sender's calls still running are cancelled, as a cancel it would have sent.
    for (auto id : st.calls->drop_sender(down.source))
      caf::anon_send(st.pool.scheduler, actors::cancel_atom_v, id);
  });
  return {
    [=](track_atom, const caf::actor& sender) {
      if (sender)
        self->monitor(sender);
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
    [=](actors::history_atom) {
      auto promise = self->make_response_promise<std::vector<actors::restart_record>>();
      ask_pool(self, [=](pool_event& ev) mutable { promise.deliver(std::move(ev.restarts)); },
               actors::history_atom_v);
      return promise;
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
      }
    },
  };
}

node_actors spawn_node_actors(caf::actor_system& sys, pool_handles pool) {
  node_actors out;
  auto calls = std::make_shared<port_calls>();
  out.manager = sys.spawn(node_manager_behavior, pool, calls);
  call_port_config pc;
  pc.submit = pool.submit;
  pc.cancel = [scheduler = pool.scheduler](uint64_t id) {
    // anon_send: the pool's actors run on the pool's own threads.
    caf::anon_send(scheduler, actors::cancel_atom_v, id);
  };
  pc.manager = caf::actor_cast<caf::actor>(out.manager);
  pc.calls = std::move(calls);
  pc.post = [&sys](std::function<void()> f) { sys.middleman().backend().post(std::move(f)); };
  out.port = spawn_call_port(sys, std::move(pc));
  return out;
}

} // namespace pyactor::cluster
