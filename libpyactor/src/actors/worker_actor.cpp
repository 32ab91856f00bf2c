#include "actors/worker_actor.hpp"

#include <csignal>

#include <caf/all.hpp>

#include "actors/call_lane.hpp"
#include "worker/protocol.hpp"

namespace pyactor::actors {

const char* worker_actor_state::name = "pyactor.worker";

namespace {

using self_pointer = worker_actor_impl::stateful_pointer<worker_actor_state>;
using phase = worker_actor_state::phase;

/// Has the calls taken and released reported to the scheduler once the
/// messages now in the mailbox were handled (one report per batch).
void queue_report(self_pointer self) {
  auto& st = self->state;
  if (st.flush_queued || st.closing || !st.options.scheduler)
    return;
  st.flush_queued = true;
  self->send(self, flush_atom_v);
}

/// Takes a call routed to the actor: the lane counts it and keeps its books.
void accept(self_pointer self, call_request&& request, reply_to&& to) {
  self->state.lane->accept(std::move(request), std::move(to));
  queue_report(self);
}

void maybe_quit(self_pointer self) {
  auto& st = self->state;
  if (st.mode == phase::serving || st.mode == phase::starting || !st.scheduler_released)
    return;
  if (st.mode == phase::draining && !st.lane->idle())
    return; // finish what the process already has
  if (st.exit_reason.empty())
    self->quit(caf::exit_reason::normal);
  else if (st.setup_error) // retrying cannot help: the supervisor gives up at once
    self->quit(caf::make_error(caf::sec::invalid_argument, st.exit_reason));
  else
    self->quit(caf::make_error(caf::sec::runtime_error, st.exit_reason));
}

/// Stops taking calls: leaves the scheduler (before any call goes back to
/// it), and has the ledger hand back the waiting calls.
void start_leaving(self_pointer self, phase mode) {
  auto& st = self->state;
  bool first = st.mode == phase::serving || st.mode == phase::starting;
  st.mode = mode;
  if (first) {
    if (st.options.scheduler) {
      self->request(st.options.scheduler, caf::infinite, leave_atom_v, st.options.spawn.slot,
                    st.options.spawn.uid)
        .then(
          [=](bool) {
            self->state.scheduler_released = true;
            maybe_quit(self);
          },
          [=](caf::error&) {
            self->state.scheduler_released = true; // the scheduler is gone
            maybe_quit(self);
          });
    } else {
      st.scheduler_released = true;
    }
  }
  st.lane->drain();
  maybe_quit(self);
}

/// The process ended: the ledger fails the call it was running and hands
/// back the rest (after `leave` went out).
void on_exited(self_pointer self, const std::string& reason) {
  auto& st = self->state;
  auto failure = st.lane->start_failure();
  auto what = st.label() + " " + (failure.empty() ? reason : failure);
  st.exit_reason = what;
  bool was_ready = st.stats->state.load() == static_cast<uint8_t>(worker_state::ready);
  start_leaving(self, phase::leaving); // `leave` goes out before the calls come back
  // A ready process that died running a call: the call bears the blame, not
  // the slot (the supervisor does not count it toward max-restarts).
  if (st.lane->process_died(what) && was_ready)
    st.stats->died_running_call.store(true);
  maybe_quit(self);
}

} // namespace

// -- worker_actor_state -----------------------------------------------------------------

std::string worker_actor_state::label() const {
  return "worker " + std::to_string(options.spawn.slot) + " (pid "
         + std::to_string(process ? process->pid() : -1) + ")";
}

uint8_t reply_code_of(uint8_t status) {
  switch (static_cast<worker::status>(status)) {
    case worker::status::ok: return 0;
    case worker::status::python_exception: return static_cast<uint8_t>(errc::python_exception);
    case worker::status::bad_request: return static_cast<uint8_t>(errc::bad_request);
    case worker::status::stale_ref: return static_cast<uint8_t>(errc::stale_ref);
    case worker::status::cross_worker_ref: return static_cast<uint8_t>(errc::cross_worker_ref);
    case worker::status::overloaded: return static_cast<uint8_t>(errc::overloaded);
  }
  return static_cast<uint8_t>(errc::bad_request);
}

worker_actor_state::worker_actor_state() {
  // nop
}

worker_actor_state::~worker_actor_state() {
  closing = true; // no more messages from here
  if (lane)
    lane->close("worker " + std::to_string(options.spawn.slot)
                + " stopped before the call finished");
  process.reset(); // kills the process and joins the I/O thread
}

bool operator==(const worker_options& x, const worker_options& y) {
  return x.spawn == y.spawn && x.default_timeout == y.default_timeout
         && x.interrupt_grace == y.interrupt_grace && x.start_timeout == y.start_timeout
         && x.pipeline_depth == y.pipeline_depth && x.max_calls == y.max_calls
         && x.supervisor == y.supervisor && x.scheduler == y.scheduler;
}

// -- behavior -----------------------------------------------------------------------------

worker_actor_impl::behavior_type worker_behavior(self_pointer self, worker_options options,
                                                 std::shared_ptr<worker_stats> stats) {
  auto& st = self->state;
  st.options = std::move(options);
  st.stats = stats ? std::move(stats) : std::make_shared<worker_stats>();
  call_lane_config lc;
  lc.ledger.default_timeout = st.options.default_timeout;
  lc.ledger.interrupt_grace = st.options.interrupt_grace;
  lc.ledger.start_timeout = st.options.start_timeout;
  lc.ledger.pipeline_depth = st.options.pipeline_depth;
  lc.ledger.max_calls = st.options.max_calls;
  lc.ledger.start_hook = st.options.spawn.start_hook;
  lc.slot = st.options.spawn.slot;
  lc.uid = st.options.spawn.uid;
  lc.scheduler = st.options.scheduler;
  lc.log = st.options.spawn.log;
  lc.stats = st.stats;
  // The I/O thread and the lane hold only a weak handle: they must not keep
  // the actor alive.
  caf::weak_actor_ptr weak = self->ctrl();
  lc.actor = weak;
  st.lane = std::make_shared<call_lane>(std::move(lc));
  worker_events events;
  // The I/O thread settles replies, alarms and freed slots in the lane; the
  // ready frame goes to the actor.
  auto ready_frames = std::make_shared<std::vector<reply_frame>>(); // owned by the I/O thread
  events.on_frame = [lane = st.lane, ready_frames](uint64_t id, uint8_t status,
                                                   std::vector<char> payload) {
    if (id != 0)
      lane->on_frame(id, status, std::move(payload));
    else
      ready_frames->push_back(reply_frame{id, status, std::move(payload)});
  };
  events.on_batch_end = [weak, lane = st.lane, ready_frames] {
    lane->on_batch_end();
    if (ready_frames->empty())
      return;
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor_impl>(strong), reply_atom_v,
                     std::move(*ready_frames));
    ready_frames->clear();
  };
  events.on_read_end = [lane = st.lane] { lane->on_read_end(); };
  events.on_alarm = [lane = st.lane] { lane->on_alarm(); };
  events.on_exit = [weak, lane = st.lane](process_exit exit) {
    lane->on_exit();
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor_impl>(strong), exited_atom_v, std::move(exit.reason));
  };
  auto started = worker_process::start(st.options.spawn, std::move(events));
  if (started) {
    st.process = std::move(started).value();
    st.stats->pid.store(st.process->pid());
    st.lane->attach(st.process.get());
  } else {
    send_log(st.options.spawn.log,
             "[worker " + std::to_string(st.options.spawn.slot) + "] " + started.error().message);
    st.exit_reason = started.error().message;
    st.setup_error = started.error().code == errc::bad_request;
    start_leaving(self, phase::leaving);
  }
  return {
    [=](call_atom, call_request& request) -> caf::typed_response_promise<call_reply> {
      auto promise = self->make_response_promise<call_reply>();
      accept(self, std::move(request), reply_to{promise, {}});
      return promise;
    },
    [=](call_atom, call_request& request, reply_sink& sink) {
      accept(self, std::move(request), reply_to{{}, std::move(sink)});
    },
    [=](cancel_atom, uint64_t request_id) {
      self->state.lane->cancel(request_id);
    },
    [=](drain_atom) { start_leaving(self, phase::draining); },
    [=](reply_atom, std::vector<reply_frame>& frames) {
      auto& st = self->state;
      for (auto& f : frames) {
        // Only the ready frame comes here (the lane settles replies): now it may serve.
        if (f.call_id != 0 || st.mode != phase::starting || !st.lane->ready())
          continue;
        st.mode = phase::serving;
        st.stats->state.store(static_cast<uint8_t>(worker_state::ready));
        if (st.options.scheduler)
          self->send(st.options.scheduler, worker_atom_v,
                     worker_entry{st.options.spawn.slot, st.options.spawn.uid,
                                  caf::actor_cast<worker_actor>(self), nullptr, st.lane});
        if (st.options.supervisor)
          self->send(st.options.supervisor, ready_atom_v, st.options.spawn.slot,
                     st.options.spawn.uid);
      }
      st.lane->run_actor_jobs();
      st.stats->served.store(st.lane->served(), std::memory_order_relaxed);
      if (st.mode == phase::serving && st.lane->recycle_due())
        start_leaving(self, phase::draining); // recycle against leaks
      maybe_quit(self);
    },
    [=](exited_atom, std::string& reason) { on_exited(self, reason); },
    [=](flush_atom) {
      self->state.flush_queued = false;
      self->state.lane->flush_report();
    },
    [=](timeout_atom, uint64_t) {
      self->state.lane->run_actor_jobs();
      maybe_quit(self);
    },
  };
}

} // namespace pyactor::actors
