#include "actors/supervisor_actor.hpp"

#include <algorithm>
#include <fstream>

#include <caf/all.hpp>

namespace pyactor::actors {

const char* supervisor_state::name = "pyactor.supervisor";

namespace {

using self_pointer = supervisor_actor::stateful_pointer<supervisor_state>;
using slot_type = supervisor_state::slot;

/// How many restarts `history` remembers.
constexpr size_t history_length = 50;

/// Resident set size of `pid` in bytes, 0 when unknown.
uint64_t rss_of(int64_t pid) {
  if (pid <= 0)
    return 0;
  std::ifstream statm{"/proc/" + std::to_string(pid) + "/statm"};
  uint64_t pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident))
    return 0;
  return pages_resident * 4096;
}

std::string exit_text(const caf::error& reason) {
  if (reason.context().match_elements<std::string>())
    return reason.context().get_as<std::string>(0);
  return caf::to_string(reason);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

void start_worker(self_pointer self, slot_type& slot) {
  auto& st = self->state;
  if (slot.stats)
    slot.served_before += slot.stats->served.load();
  slot.stats = std::make_shared<worker_stats>();
  auto opts = st.options.worker;
  opts.spawn.slot = slot.id;
  opts.spawn.uid = st.next_uid++;
  opts.supervisor = caf::actor_cast<ready_listener>(self);
  opts.scheduler = st.options.scheduler;
  slot.stats->uid.store(opts.spawn.uid);
  slot.actor = self->spawn(worker_behavior, std::move(opts), slot.stats);
  self->monitor(slot.actor);
}

slot_type& add_slot(self_pointer self) {
  auto& st = self->state;
  slot_type slot;
  slot.id = st.next_slot++;
  st.slots.push_back(std::move(slot));
  self->send(st.options.scheduler, worker_atom_v, st.slots.back().id, true);
  return st.slots.back();
}

void drop_slot(self_pointer self, uint64_t id) {
  auto& st = self->state;
  self->send(st.options.scheduler, worker_atom_v, id, false);
  st.slots.erase(std::remove_if(st.slots.begin(), st.slots.end(),
                                [&](const slot_type& s) { return s.id == id; }),
                 st.slots.end());
  st.answer_removals();
  st.answer_waiters();
}

void on_worker_down(self_pointer self, const caf::down_msg& down) {
  auto& st = self->state;
  auto i = std::find_if(st.slots.begin(), st.slots.end(), [&](const slot_type& s) {
    return s.actor && s.actor.address() == down.source;
  });
  if (i == st.slots.end())
    return;
  auto& slot = *i;
  slot.actor = nullptr;
  if (slot.removing) {
    drop_slot(self, slot.id);
    return;
  }
  if (!down.reason || down.reason == caf::exit_reason::normal) {
    // Recycled after max-calls: a planned replacement, not a failure.
    st.record(slot.id, "recycled after its max-calls", false);
    start_worker(self, slot);
    return;
  }
  slot.last_exit = exit_text(down.reason);
  if (slot.stats && slot.stats->died_running_call.load()) {
    // A ready worker died running a call: the call failed with
    // worker_crashed and bears the blame. Such deaths do not count towards
    // max-restarts, so calls that kill their worker (one poison item, run
    // again and again) cannot give up every slot; deaths while starting or
    // idle still do.
    ++slot.restarts;
    send_log(st.options.worker.spawn.log, "[supervisor] restarting worker " + std::to_string(slot.id) + ": "
                                + slot.last_exit + " (charged to that call, not to max-restarts)");
    st.record(slot.id, slot.last_exit, false);
    start_worker(self, slot);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  while (!slot.recent_restarts.empty()
         && now - slot.recent_restarts.front() > st.options.restart_window)
    slot.recent_restarts.pop_front();
  // A setup that can never work (a missing cwd) is not retried.
  bool hopeless = down.reason == caf::sec::invalid_argument;
  if (hopeless || slot.recent_restarts.size() >= st.options.max_restarts) {
    slot.given_up = true;
    if (slot.stats)
      slot.stats->state.store(static_cast<uint8_t>(worker_state::failed));
    auto why = hopeless ? "giving up on worker " + std::to_string(slot.id)
                            + " without a restart, since no restart can fix this: "
                            + slot.last_exit
                        : "giving up on worker " + std::to_string(slot.id) + " after "
                            + std::to_string(slot.recent_restarts.size()) + " restarts within "
                            + std::to_string(st.options.restart_window.count())
                            + " ms; last exit: " + slot.last_exit;
    send_log(st.options.worker.spawn.log, "[supervisor] " + why);
    st.record(slot.id, why, true);
    self->send(st.options.scheduler, worker_atom_v, slot.id, false);
    st.answer_waiters();
    return;
  }
  slot.recent_restarts.push_back(now);
  ++slot.restarts;
  send_log(st.options.worker.spawn.log, "[supervisor] restarting worker " + std::to_string(slot.id) + ": "
                              + slot.last_exit);
  st.record(slot.id, slot.last_exit, false);
  start_worker(self, slot);
}

/// Starts draining the given slots; answers once they are gone.
caf::typed_response_promise<std::vector<uint64_t>> shrink(self_pointer self,
                                                          std::vector<uint64_t> ids) {
  auto& st = self->state;
  auto promise = self->make_response_promise<std::vector<uint64_t>>();
  std::vector<uint64_t> taken;
  for (auto id : ids) {
    auto i = std::find_if(st.slots.begin(), st.slots.end(),
                          [&](const slot_type& s) { return s.id == id && !s.removing; });
    if (i == st.slots.end())
      continue; // unknown or already leaving: ignored
    i->removing = true;
    taken.push_back(id);
    if (i->actor)
      self->send(i->actor, drain_atom_v);
    else
      drop_slot(self, id); // given up: nothing to drain
  }
  st.removals.push_back({taken, promise});
  st.answer_removals();
  return promise;
}

} // namespace

// -- supervisor_state ------------------------------------------------------------------

bool supervisor_state::settled() const {
  for (auto& slot : slots)
    if (!slot.given_up && !slot.removing
        && slot.stats->state.load() != static_cast<uint8_t>(worker_state::ready))
      return false;
  return true;
}

void supervisor_state::answer_waiters() {
  if (ready_waiters.empty() || !settled())
    return;
  std::string failures;
  for (auto& slot : slots)
    if (slot.given_up)
      failures += (failures.empty() ? "" : "; ") + ("worker " + std::to_string(slot.id) + ": "
                                                    + slot.last_exit);
  for (auto& waiter : ready_waiters)
    waiter.deliver(failures);
  ready_waiters.clear();
}

void supervisor_state::answer_removals() {
  for (auto i = removals.begin(); i != removals.end();) {
    bool gone = std::none_of(i->ids.begin(), i->ids.end(), [&](uint64_t id) {
      return std::any_of(slots.begin(), slots.end(), [&](const slot& s) { return s.id == id; });
    });
    if (gone) {
      i->promise.deliver(i->ids);
      i = removals.erase(i);
    } else {
      ++i;
    }
  }
}

void supervisor_state::record(uint64_t slot_id, const std::string& reason, bool given_up) {
  history.push_back(restart_record{slot_id, now_ms(), reason, given_up});
  if (history.size() > history_length)
    history.pop_front();
}

std::vector<worker_status> supervisor_state::status() const {
  std::vector<worker_status> result;
  for (auto& slot : slots) {
    worker_status s;
    s.slot = slot.id;
    s.uid = slot.stats->uid.load();
    s.pid = slot.given_up ? 0 : slot.stats->pid.load();
    s.state = to_string(slot.removing ? worker_state::stopping
                                      : static_cast<worker_state>(slot.stats->state.load()));
    s.served = slot.served_before + slot.stats->served.load();
    s.in_flight = static_cast<uint32_t>(std::max(0, slot.stats->load.load()));
    s.restarts = slot.restarts;
    s.rss_bytes = rss_of(s.pid);
    s.last_exit = slot.last_exit;
    result.push_back(std::move(s));
  }
  return result;
}

supervisor_state::~supervisor_state() {
  for (auto& waiter : ready_waiters)
    if (waiter.pending())
      waiter.deliver(std::string{"the pool stopped before it was ready"});
  for (auto& r : removals)
    if (r.promise.pending())
      r.promise.deliver(r.ids);
  for (auto& slot : slots)
    if (slot.actor)
      caf::anon_send_exit(slot.actor, caf::exit_reason::user_shutdown);
}

// -- behavior ----------------------------------------------------------------------------

supervisor_actor::behavior_type supervisor_behavior(self_pointer self,
                                                    supervisor_options options) {
  self->state.options = std::move(options);
  self->state.next_uid = std::max<uint64_t>(1, self->state.options.first_uid);
  for (uint32_t i = 0; i < self->state.options.workers; ++i)
    add_slot(self);
  for (auto& slot : self->state.slots)
    start_worker(self, slot);
  self->set_down_handler([=](caf::down_msg& down) { on_worker_down(self, down); });
  return {
    [=](ready_atom, uint64_t, uint64_t) { self->state.answer_waiters(); },
    [=](ready_atom) -> caf::typed_response_promise<std::string> {
      auto promise = self->make_response_promise<std::string>();
      self->state.ready_waiters.push_back(promise);
      self->state.answer_waiters();
      return promise;
    },
    [=](status_atom) { return self->state.status(); },
    [=](history_atom) {
      auto& h = self->state.history;
      return std::vector<restart_record>(h.begin(), h.end());
    },
    [=](grow_atom, uint32_t n) {
      std::vector<uint64_t> ids;
      for (uint32_t i = 0; i < n; ++i) {
        auto& slot = add_slot(self);
        start_worker(self, slot);
        ids.push_back(slot.id);
      }
      return ids;
    },
    [=](shrink_atom, uint32_t n) {
      std::vector<uint64_t> ids;
      auto& slots = self->state.slots;
      for (auto i = slots.rbegin(); i != slots.rend() && ids.size() < n; ++i)
        if (!i->removing)
          ids.push_back(i->id); // the newest workers go first
      return shrink(self, std::move(ids));
    },
    [=](shrink_atom, std::vector<uint64_t>& ids) { return shrink(self, std::move(ids)); },
  };
}

} // namespace pyactor::actors
