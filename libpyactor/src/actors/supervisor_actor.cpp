#include "pyactor/actors/supervisor_actor.hpp"

#include <fstream>

#include <caf/all.hpp>

namespace pyactor::actors {

const char* supervisor_state::name = "pyactor.supervisor";

namespace {

using self_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

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

void start_worker(self_pointer self, supervisor_state::slot& slot) {
  auto& st = self->state;
  auto opts = st.options.worker;
  opts.spawn.slot = slot.id;
  opts.spawn.uid = st.next_uid++;
  opts.stats = slot.stats;
  slot.stats->uid.store(opts.spawn.uid); // before the scheduler hears of it
  slot.stats->pid.store(0);
  opts.supervisor = caf::actor_cast<ready_listener>(self);
  slot.stats->state.store(static_cast<uint8_t>(worker_state::starting));
  auto opts_uid = opts.spawn.uid;
  slot.actor = self->spawn(worker_behavior, std::move(opts));
  self->monitor(slot.actor);
  self->send(st.options.scheduler, worker_atom_v,
             worker_entry{slot.id, opts_uid, slot.actor, slot.stats});
}

void on_worker_down(self_pointer self, const caf::down_msg& down) {
  auto& st = self->state;
  for (auto& slot : st.slots) {
    if (!slot.actor || slot.actor.address() != down.source)
      continue;
    slot.actor = nullptr;
    slot.last_exit = exit_text(down.reason);
    auto now = std::chrono::steady_clock::now();
    while (!slot.restarts.empty() && now - slot.restarts.front() > st.options.restart_window)
      slot.restarts.pop_front();
    if (slot.restarts.size() >= st.options.max_restarts) {
      slot.given_up = true;
      slot.stats->state.store(static_cast<uint8_t>(worker_state::failed));
      st.options.worker.spawn.log(
        "[supervisor] giving up on worker " + std::to_string(slot.id) + " after "
        + std::to_string(slot.restarts.size()) + " restarts within "
        + std::to_string(st.options.restart_window.count()) + " ms; last exit: " + slot.last_exit);
      self->send(st.options.scheduler, worker_atom_v, worker_entry{slot.id, 0, worker_actor{}, nullptr});
      st.answer_waiters();
      return;
    }
    slot.restarts.push_back(now);
    slot.stats->restarts.fetch_add(1);
    st.options.worker.spawn.log("[supervisor] restarting worker " + std::to_string(slot.id)
                                + ": " + slot.last_exit);
    start_worker(self, slot);
    return;
  }
}

} // namespace

bool supervisor_state::settled() const {
  for (auto& slot : slots)
    if (!slot.given_up
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

std::vector<worker_status> supervisor_state::status() const {
  std::vector<worker_status> result;
  for (auto& slot : slots) {
    worker_status s;
    s.slot = slot.id;
    s.uid = slot.stats->uid.load();
    s.pid = slot.given_up ? 0 : slot.stats->pid.load();
    s.state = to_string(static_cast<worker_state>(slot.stats->state.load()));
    s.served = slot.stats->served.load();
    s.in_flight = slot.stats->in_flight.load();
    s.restarts = slot.stats->restarts.load();
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
  for (auto& slot : slots)
    if (slot.actor)
      caf::anon_send_exit(slot.actor, caf::exit_reason::user_shutdown);
}

supervisor_actor::behavior_type supervisor_behavior(self_pointer self,
                                                    supervisor_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  for (uint32_t i = 0; i < st.options.workers; ++i) {
    supervisor_state::slot slot;
    slot.id = i + 1;
    slot.stats = std::make_shared<worker_stats>();
    st.slots.push_back(std::move(slot));
  }
  for (auto& slot : st.slots)
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
  };
}

} // namespace pyactor::actors
