#include "cluster/node_manager_actor.hpp"

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

} // namespace

node_manager_state::~node_manager_state() {
  for (auto& entry : calls)
    if (entry.second.pending())
      entry.second.deliver(
        actors::make_error_reply(errc::node_down, "the node stopped before the call finished"));
  for (auto& entry : statuses)
    if (entry.second.pending())
      entry.second.deliver(std::vector<actors::worker_status>{});
}

node_manager_actor::behavior_type node_manager_behavior(self_pointer self, pool_handles pool) {
  self->state.pool = std::move(pool);
  return {
    [=](actors::call_atom, actors::call_request& request)
      -> caf::typed_response_promise<actors::call_reply> {
      auto& st = self->state;
      auto promise = self->make_response_promise<actors::call_reply>();
      auto id = st.next_id++;
      st.calls.emplace(id, promise);
      auto sink = actors::reply_sink{
        std::make_shared<forward_completion>(caf::actor_cast<caf::actor>(self), id)};
      // anon_send: the pool's actors run on the pool's own threads.
      caf::anon_send(st.pool.scheduler, actors::call_atom_v, std::move(request), std::move(sink));
      return promise;
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
      caf::anon_send(self->state.pool.scheduler, actors::cancel_atom_v, request_id);
    },
    [=](keepalive_atom) {
      // nop: the traffic is the point
    },
    [=](pool_event& ev) {
      auto& st = self->state;
      if (ev.is_status) {
        if (auto i = st.statuses.find(ev.id); i != st.statuses.end()) {
          i->second.deliver(std::move(ev.workers));
          st.statuses.erase(i);
        }
        return;
      }
      if (auto i = st.calls.find(ev.id); i != st.calls.end()) {
        i->second.deliver(std::move(ev.reply));
        st.calls.erase(i);
      }
    },
  };
}

} // namespace pyactor::cluster
