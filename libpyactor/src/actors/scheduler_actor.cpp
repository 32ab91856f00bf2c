#include "actors/scheduler_actor.hpp"

#include <algorithm>

#include <caf/all.hpp>

namespace pyactor::actors {

const char* scheduler_state::name = "pyactor.scheduler";

namespace {

using self_pointer = scheduler_actor::stateful_pointer<scheduler_state>;

/// How many cancelled request ids the scheduler remembers (for calls that
/// come back from a leaving worker after their cancel went by).
constexpr size_t cancelled_memory = 4096;

std::string slot_list(const std::set<uint64_t>& slots) {
  std::string text;
  for (auto s : slots)
    text += (text.empty() ? "" : ", ") + std::to_string(s);
  return text.empty() ? "none" : text;
}

call_reply cancelled_reply() {
  return make_error_reply(errc::cancelled, "the call was cancelled before it ran");
}

/// Hands a call with a sink to `w`.
void dispatch(self_pointer self, worker_entry& w, call_request&& request, reply_sink&& sink) {
  self->state.hold(w, request.request_id);
  self->send(w.actor, call_atom_v, std::move(request), std::move(sink));
}

/// Answers a parked call without running it.
void refuse(scheduler_state::parked_call& p, call_reply&& reply) {
  if (p.sink.completion)
    p.sink.completion->deliver(std::move(reply));
  else
    p.promise.deliver(std::move(reply));
}

/// Routes a parked call again; returns false if it must stay parked.
bool retry(self_pointer self, scheduler_state::parked_call& p) {
  auto& st = self->state;
  if (p.request.request_id != 0 && st.cancelled.count(p.request.request_id) > 0) {
    refuse(p, cancelled_reply());
    return true;
  }
  auto r = st.route(p.request);
  if (r.park)
    return false;
  if (r.worker == nullptr) {
    refuse(p, std::move(r.refusal));
  } else if (p.sink.completion) {
    dispatch(self, *r.worker, std::move(p.request), std::move(p.sink));
  } else {
    st.hold(*r.worker, p.request.request_id);
    p.promise.delegate(r.worker->actor, call_atom_v, std::move(p.request));
  }
  return true;
}

void retry_parked(self_pointer self) {
  auto& parked = self->state.parked;
  for (auto i = parked.begin(); i != parked.end();)
    i = retry(self, *i) ? parked.erase(i) : std::next(i);
}

} // namespace

scheduler_state::route_result scheduler_state::route(const call_request& request) {
  route_result r;
  if (request.owner_uid != 0) {
    for (auto& w : workers)
      if (w.uid == request.owner_uid) {
        r.worker = &w;
        return r;
      }
    r.refusal = make_error_reply(errc::stale_ref,
                                 "the worker that held this object (uid "
                                   + std::to_string(request.owner_uid)
                                   + ") has restarted or left the pool: its objects are gone");
    return r;
  }
  if (request.pin_slot != any_worker) {
    for (auto& w : workers)
      if (w.slot == request.pin_slot) {
        r.worker = &w;
        return r;
      }
    if (slots.count(request.pin_slot) > 0) {
      r.park = true; // that worker is restarting
      return r;
    }
    if (gone_slots.count(request.pin_slot) > 0) {
      r.refusal = make_error_reply(
        errc::no_workers, "worker " + std::to_string(request.pin_slot)
                            + " left the pool (removed by remove_workers or remove_node, or "
                              "given up after failing to restart: see the log) before this "
                              "call ran; pin a worker that status lists (workers: "
                            + slot_list(slots) + "), or none");
      return r;
    }
    r.refusal = make_error_reply(errc::bad_request, "no worker with id "
                                                      + std::to_string(request.pin_slot)
                                                      + " (workers: " + slot_list(slots) + ")");
    return r;
  }
  if (workers.empty()) {
    if (!slots.empty()) {
      r.park = true;
      return r;
    }
    r.refusal = make_error_reply(errc::no_workers,
                                 "no worker left in the pool: every slot failed (see the log for "
                                 "why) or was removed");
    return r;
  }
  candidates.clear();
  for (auto& w : workers)
    candidates.push_back(w.load->load(std::memory_order_relaxed));
  r.worker = &workers[policy->pick(candidates, request.affinity_key)];
  return r;
}

void scheduler_state::join(worker_entry entry) {
  auto i = std::lower_bound(workers.begin(), workers.end(), entry.slot,
                            [](const worker_entry& w, uint64_t slot) { return w.slot < slot; });
  slots.insert(entry.slot);
  if (i != workers.end() && i->slot == entry.slot)
    *i = std::move(entry);
  else
    workers.insert(i, std::move(entry));
}

worker_entry* scheduler_state::find_uid(uint64_t uid) {
  for (auto& w : workers)
    if (w.uid == uid)
      return &w;
  return nullptr;
}

void scheduler_state::hold(worker_entry& w, uint64_t request_id) {
  if (request_id != 0) {
    auto [i, added] = holders.try_emplace(request_id, w.uid);
    if (!added) {
      if (i->second == w.uid)
        return; // counted already
      // It came back from the worker that held it (handed back): not there now.
      if (auto* before = find_uid(i->second))
        before->load->fetch_sub(1, std::memory_order_relaxed);
      i->second = w.uid;
    }
  }
  w.load->fetch_add(1, std::memory_order_relaxed);
}

void scheduler_state::release(uint64_t uid, uint64_t request_id) {
  if (request_id != 0) {
    auto i = holders.find(request_id);
    if (i == holders.end() || i->second != uid)
      return; // counted elsewhere now, or never counted here
    holders.erase(i);
  }
  if (auto* w = find_uid(uid))
    w->load->fetch_sub(1, std::memory_order_relaxed);
}

void scheduler_state::forget_holder(uint64_t uid) {
  for (auto i = holders.begin(); i != holders.end();)
    i = i->second == uid ? holders.erase(i) : std::next(i);
}

bool scheduler_state::leave(uint64_t slot, uint64_t uid) {
  if (find_uid(uid) != nullptr)
    forget_holder(uid);
  workers.erase(std::remove_if(workers.begin(), workers.end(),
                               [&](const worker_entry& w) { return w.slot == slot && w.uid == uid; }),
                workers.end());
  return true;
}

void scheduler_state::publish() {
  if (routes)
    routes->store(std::make_shared<const route_table::snapshot>(workers));
}

void scheduler_state::remember_cancelled(uint64_t request_id) {
  if (cancelled.insert(request_id).second)
    cancelled_order.push_back(request_id);
  if (cancelled_order.size() > cancelled_memory) {
    cancelled.erase(cancelled_order.front());
    cancelled_order.pop_front();
  }
}

scheduler_actor::behavior_type scheduler_behavior(self_pointer self,
                                                  std::shared_ptr<scheduling_policy> policy,
                                                  std::shared_ptr<route_table> routes) {
  self->state.policy = std::move(policy);
  self->state.routes = std::move(routes);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    auto before = st.workers.size();
    for (auto& w : st.workers)
      if (w.actor.address() == down.source)
        st.forget_holder(w.uid);
    st.workers.erase(std::remove_if(st.workers.begin(), st.workers.end(),
                                    [&](const worker_entry& w) {
                                      return w.actor.address() == down.source;
                                    }),
                     st.workers.end());
    if (st.workers.size() != before)
      st.publish();
  });
  return {
    [=](call_atom, call_request& request) -> caf::result<call_reply> {
      auto& st = self->state;
      if (request.request_id != 0 && st.cancelled.count(request.request_id) > 0)
        return cancelled_reply();
      auto r = st.route(request);
      if (r.park) {
        auto promise = self->make_response_promise<call_reply>();
        st.parked.push_back({std::move(request), promise, {}});
        return promise;
      }
      if (r.worker == nullptr)
        return r.refusal;
      st.hold(*r.worker, request.request_id);
      return self->delegate(r.worker->actor, call_atom_v, std::move(request));
    },
    [=](call_atom, call_request& request, reply_sink& sink) {
      auto& st = self->state;
      if (request.request_id != 0 && st.cancelled.count(request.request_id) > 0) {
        sink.completion->deliver(cancelled_reply());
        return;
      }
      auto r = st.route(request);
      if (r.park)
        st.parked.push_back({std::move(request), {}, std::move(sink)});
      else if (r.worker == nullptr)
        sink.completion->deliver(std::move(r.refusal));
      else
        dispatch(self, *r.worker, std::move(request), std::move(sink));
    },
    [=](leave_atom, uint64_t slot, uint64_t uid) {
      for (auto& w : self->state.workers)
        if (w.slot == slot && w.uid == uid)
          self->demonitor(w.actor.address());
      auto left = self->state.leave(slot, uid);
      self->state.publish();
      return left;
    },
    [=](worker_atom, worker_entry& entry) {
      self->monitor(entry.actor); // a death without `leave` drops it too
      entry.load = std::make_shared<std::atomic<int32_t>>(0); // counted here
      self->state.join(std::move(entry));
      self->state.publish();
      retry_parked(self);
    },
    [=](worker_atom, uint64_t slot, bool exists) {
      auto& st = self->state;
      if (exists) {
        st.slots.insert(slot);
        st.gone_slots.erase(slot);
        return;
      }
      st.slots.erase(slot);
      st.gone_slots.insert(slot);
      if (st.gone_slots.size() > scheduler_state::max_gone_slots)
        st.gone_slots.erase(st.gone_slots.begin()); // slots are numbered upwards
      for (auto& w : st.workers)
        if (w.slot == slot)
          st.forget_holder(w.uid);
      st.workers.erase(std::remove_if(st.workers.begin(), st.workers.end(),
                                      [&](const worker_entry& w) { return w.slot == slot; }),
                       st.workers.end());
      st.publish();
      retry_parked(self); // parked calls may now have nowhere to go
    },
    [=](cancel_atom, uint64_t request_id) {
      auto& st = self->state;
      st.remember_cancelled(request_id);
      retry_parked(self); // answers a parked call with this id
      // Only the worker that holds it hears of it. A call not on the books
      // is in transit: to a worker (its report names it, see held_atom) or
      // back here (refused as cancelled when it comes).
      if (auto i = st.holders.find(request_id); i != st.holders.end())
        if (auto* w = st.find_uid(i->second))
          self->send(w->actor, cancel_atom_v, request_id);
    },
    [=](held_atom, uint64_t uid, std::vector<uint64_t>& accepted,
        std::vector<uint64_t>& released) {
      auto& st = self->state;
      auto* w = st.find_uid(uid);
      if (w == nullptr)
        return; // it left: its books are closed
      // Calls sent to it straight by the C++ API count from now; a call
      // already on the books (routed here, or elsewhere after a hand-back)
      // is not counted again.
      for (auto id : accepted)
        if (id != 0 && st.holders.count(id) == 0)
          st.hold(*w, id);
      for (auto id : released)
        st.release(uid, id);
      // A cancel that came while its call was in transit to this worker.
      for (auto id : accepted)
        if (id != 0 && st.cancelled.count(id) > 0) {
          auto i = st.holders.find(id);
          if (i != st.holders.end() && i->second == uid)
            self->send(w->actor, cancel_atom_v, id);
        }
    },
  };
}

} // namespace pyactor::actors
