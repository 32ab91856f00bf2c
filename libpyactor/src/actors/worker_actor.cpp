#include "actors/worker_actor.hpp"

#include <csignal>

#include <caf/all.hpp>

#include "actors/call_ledger.hpp"
#include "worker/protocol.hpp"

namespace pyactor::actors {

const char* worker_actor_state::name = "pyactor.worker";

namespace {

using self_pointer = worker_actor_impl::stateful_pointer<worker_actor_state>;
using phase = worker_actor_state::phase;
using clock_type = call_ledger::clock_type;

/// Has the calls taken and released reported to the scheduler once the
/// messages now in the mailbox were handled (one report per batch).
void queue_report(self_pointer self) {
  auto& st = self->state;
  if (st.flush_queued || st.closing || !st.options.scheduler)
    return;
  st.flush_queued = true;
  self->send(self, flush_atom_v);
}

/// Takes a call: counts it and gives it to the ledger.
void accept(self_pointer self, call_request&& request, reply_to&& to) {
  auto& st = self->state;
  st.stats->load.fetch_add(1);
  st.accepted_ids.push_back(request.request_id);
  queue_report(self);
  st.ledger->accept(std::move(request), std::move(to), clock_type::now());
}

/// The ledger's side effects for a worker actor: its process, its
/// scheduler and the repliers. Runs on the actor's thread.
class worker_callee final : public ledger_callee {
public:
  explicit worker_callee(self_pointer self) : self_(self) {
    // nop
  }

  void write(const char* data, size_t size) override {
    if (auto& p = self_->state.process)
      p->send(data, size);
  }

  void interrupt(uint64_t ticket) override {
    if (auto& p = self_->state.process)
      p->interrupt(ticket);
  }

  void kill(const std::string& why) override {
    send_log(self_->state.options.spawn.log, why);
    if (auto& p = self_->state.process)
      p->signal(SIGKILL);
  }

  void set_alarm(time_point at) override {
    if (auto& p = self_->state.process)
      p->set_alarm(at);
  }

  void deliver(reply_to&& to, call_reply&& reply) override {
    if (to.sink.completion)
      to.sink.completion->deliver(std::move(reply));
    else if (to.promise.pending())
      to.promise.deliver(std::move(reply));
  }

  void hand_back(call_request&& request, reply_to&& to) override {
    auto& scheduler = self_->state.options.scheduler;
    if (!scheduler)
      deliver(std::move(to), make_error_reply(errc::worker_crashed,
                                              label() + " left before the call ran"));
    else if (to.sink.completion)
      self_->send(scheduler, call_atom_v, std::move(request), std::move(to.sink));
    else if (to.promise.pending())
      to.promise.delegate(scheduler, call_atom_v, std::move(request));
  }

  void released(const call_request& request) override {
    auto& st = self_->state;
    st.stats->load.fetch_sub(1);
    st.released_ids.push_back(request.request_id);
    queue_report(self_);
  }

  std::string label() const override {
    return self_->state.label();
  }

private:
  self_pointer self_;
};

void maybe_quit(self_pointer self) {
  auto& st = self->state;
  if (st.mode == phase::serving || st.mode == phase::starting || !st.scheduler_released)
    return;
  if (st.mode == phase::draining && !st.ledger->idle())
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
  st.ledger->drain();
  maybe_quit(self);
}

/// The process ended: the ledger fails the call it was running and hands
/// back the rest (after `leave` went out).
void on_exited(self_pointer self, const std::string& reason) {
  auto& st = self->state;
  auto what = st.label() + " "
              + (st.ledger->start_failure().empty() ? reason : st.ledger->start_failure());
  st.exit_reason = what;
  bool was_ready = st.stats->state.load() == static_cast<uint8_t>(worker_state::ready);
  start_leaving(self, phase::leaving); // `leave` goes out before the calls come back
  // A ready process that died running a call: the call bears the blame, not
  // the slot (the supervisor does not count it toward max-restarts).
  if (st.ledger->process_died(what) && was_ready)
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
  if (ledger)
    ledger->abandon_all("worker " + std::to_string(options.spawn.slot)
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
  ledger_config lc;
  lc.default_timeout = st.options.default_timeout;
  lc.interrupt_grace = st.options.interrupt_grace;
  lc.start_timeout = st.options.start_timeout;
  lc.pipeline_depth = st.options.pipeline_depth;
  lc.max_calls = st.options.max_calls;
  lc.start_hook = st.options.spawn.start_hook;
  st.callee = std::make_unique<worker_callee>(self);
  st.ledger = std::make_unique<call_ledger>(*st.callee, std::move(lc));
  // The I/O thread holds only a weak handle: it must not keep the actor alive.
  caf::weak_actor_ptr weak = self->ctrl();
  worker_events events;
  // The I/O thread completes C++ API calls itself (through the ledger's
  // sinks) and passes the frames of each read to the actor in one message.
  auto batch = std::make_shared<std::vector<reply_frame>>(); // owned by the I/O thread
  events.on_frame = [batch, sinks = st.ledger->io_side()](uint64_t id, uint8_t status,
                                                          std::vector<char> payload) {
    if (id != 0)
      sinks->complete(id, status, payload);
    batch->push_back(reply_frame{id, status, std::move(payload)});
  };
  events.on_batch_end = [weak, batch] {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor_impl>(strong), reply_atom_v, std::move(*batch));
    batch->clear();
  };
  events.on_alarm = [weak] {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor_impl>(strong), timeout_atom_v, uint64_t{0});
  };
  events.on_exit = [weak](process_exit exit) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor_impl>(strong), exited_atom_v, std::move(exit.reason));
  };
  auto started = worker_process::start(st.options.spawn, std::move(events));
  if (started) {
    st.process = std::move(started).value();
    st.stats->pid.store(st.process->pid());
    st.ledger->started(clock_type::now());
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
      self->state.ledger->cancel(request_id, clock_type::now());
    },
    [=](drain_atom) { start_leaving(self, phase::draining); },
    [=](reply_atom, std::vector<reply_frame>& frames) {
      auto& st = self->state;
      for (auto& f : frames) {
        if (f.call_id != 0) {
          st.ledger->on_reply(f.call_id, f.status, std::move(f.payload));
          continue;
        }
        // The ready frame: now it may serve.
        if (st.mode != phase::starting || !st.ledger->ready())
          continue;
        st.mode = phase::serving;
        st.stats->state.store(static_cast<uint8_t>(worker_state::ready));
        if (st.options.scheduler)
          self->send(st.options.scheduler, worker_atom_v,
                     worker_entry{st.options.spawn.slot, st.options.spawn.uid,
                                  caf::actor_cast<worker_actor>(self), nullptr});
        if (st.options.supervisor)
          self->send(st.options.supervisor, ready_atom_v, st.options.spawn.slot,
                     st.options.spawn.uid);
      }
      st.stats->served.store(st.ledger->served(), std::memory_order_relaxed);
      if (st.ledger->recycle_due() && st.mode == phase::serving)
        start_leaving(self, phase::draining); // recycle against leaks
      st.ledger->pump();
      maybe_quit(self);
    },
    [=](exited_atom, std::string& reason) { on_exited(self, reason); },
    [=](flush_atom) {
      auto& st = self->state;
      st.flush_queued = false;
      if (st.accepted_ids.empty() && st.released_ids.empty())
        return;
      self->send(st.options.scheduler, held_atom_v, st.options.spawn.uid,
                 std::move(st.accepted_ids), std::move(st.released_ids));
      st.accepted_ids.clear();
      st.released_ids.clear();
    },
    [=](timeout_atom, uint64_t) {
      self->state.ledger->on_alarm(clock_type::now());
      maybe_quit(self);
    },
  };
}

} // namespace pyactor::actors
