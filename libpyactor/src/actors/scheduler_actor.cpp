#include "pyactor/actors/scheduler_actor.hpp"

#include <algorithm>

#include <caf/all.hpp>

namespace pyactor::actors {

const char* scheduler_state::name = "pyactor.scheduler";

namespace {

std::string live_slots(const std::vector<worker_entry>& workers) {
  std::string text;
  for (auto& w : workers)
    text += (text.empty() ? "" : ", ") + std::to_string(w.slot);
  return text.empty() ? "none" : text;
}

} // namespace

const worker_entry* scheduler_state::route(const call_request& request, call_reply& refusal) {
  if (request.owner_uid != 0) {
    for (auto& w : workers)
      if (w.uid == request.owner_uid)
        return &w;
    refusal = make_error_reply(errc::stale_ref,
                               "the worker that held this object (uid "
                                 + std::to_string(request.owner_uid)
                                 + ") has restarted or left the pool: its objects are gone");
    return nullptr;
  }
  if (request.pin_slot != any_worker) {
    for (auto& w : workers)
      if (w.slot == request.pin_slot)
        return &w;
    refusal = make_error_reply(errc::bad_request, "no live worker with id "
                                                    + std::to_string(request.pin_slot)
                                                    + " (live: " + live_slots(workers) + ")");
    return nullptr;
  }
  if (workers.empty()) {
    refusal = make_error_reply(errc::no_workers,
                               "no live worker in the pool: every slot failed (see the log "
                               "for why) or the pool was emptied");
    return nullptr;
  }
  candidates.clear();
  for (auto& w : workers)
    candidates.push_back(w.stats.get());
  return &workers[policy->pick(candidates)];
}

void scheduler_state::update(worker_entry entry) {
  auto i = std::lower_bound(workers.begin(), workers.end(), entry.slot,
                            [](const worker_entry& w, uint64_t slot) { return w.slot < slot; });
  bool present = i != workers.end() && i->slot == entry.slot;
  if (!entry.actor) {
    if (present)
      workers.erase(i);
  } else if (present) {
    *i = std::move(entry);
  } else {
    workers.insert(i, std::move(entry));
  }
}

scheduler_actor::behavior_type
scheduler_behavior(scheduler_actor::stateful_pointer<scheduler_state> self,
                   std::shared_ptr<scheduling_policy> policy) {
  self->state.policy = std::move(policy);
  return {
    [=](call_atom, call_request& request) -> caf::result<call_reply> {
      call_reply refusal;
      auto target = self->state.route(request, refusal);
      if (target == nullptr)
        return refusal;
      return self->delegate(target->actor, call_atom_v, std::move(request));
    },
    [=](call_atom, call_request& request, reply_sink& sink) {
      call_reply refusal;
      auto target = self->state.route(request, refusal);
      if (target == nullptr)
        sink.completion->deliver(std::move(refusal));
      else
        self->send(target->actor, call_atom_v, std::move(request), std::move(sink));
    },
    [=](worker_atom, worker_entry& entry) { self->state.update(std::move(entry)); },
  };
}

} // namespace pyactor::actors
