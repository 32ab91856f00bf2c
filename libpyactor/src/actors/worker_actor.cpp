#include "pyactor/actors/worker_actor.hpp"

#include <csignal>

#include <caf/all.hpp>

#include "pyactor/worker/protocol.hpp"

namespace pyactor::actors {

const char* worker_actor_state::name = "pyactor.worker";

namespace {

using self_pointer = worker_actor::stateful_pointer<worker_actor_state>;
using phase = worker_actor_state::phase;
using call = worker_actor_state::call;

/// `(kill_atom, ticket | reinterrupt_flag)` interrupts again instead of killing.
constexpr uint64_t reinterrupt_flag = uint64_t{1} << 63;
constexpr auto reinterrupt_delay = std::chrono::milliseconds(100);

void maybe_quit(self_pointer self) {
  auto& st = self->state;
  if (st.mode == phase::serving || !st.scheduler_released)
    return;
  if (st.mode == phase::draining && (!st.written.empty() || !st.abandoned.empty()))
    return; // finish what the process already has
  if (st.exit_reason.empty())
    self->quit(caf::exit_reason::normal);
  else
    self->quit(caf::make_error(caf::sec::runtime_error, st.exit_reason));
}

/// Gives a call that never reached the process back to the scheduler.
void hand_back(self_pointer self, call&& c) {
  auto& st = self->state;
  st.forget_deadline(c);
  st.options.stats->load.fetch_sub(1);
  if (!st.options.scheduler) {
    c.reply.deliver(make_error_reply(errc::worker_crashed, st.label() + " left before the call ran"));
  } else if (c.reply.sink.completion) {
    self->send(st.options.scheduler, call_atom_v, std::move(c.request), std::move(c.reply.sink));
  } else if (c.reply.promise.pending()) {
    c.reply.promise.delegate(st.options.scheduler, call_atom_v, std::move(c.request));
  }
}

/// Stops taking calls: leaves the scheduler, hands back the waiting calls.
void start_leaving(self_pointer self, phase mode) {
  auto& st = self->state;
  bool first = st.mode == phase::serving;
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
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& entry : waiting)
    hand_back(self, std::move(entry.second));
  maybe_quit(self);
}

/// Writes waiting calls to the process while the pipeline has room, all
/// in one write.
void pump(self_pointer self) {
  auto& st = self->state;
  auto& frames = st.frame;
  frames.clear();
  while (st.mode != phase::leaving && st.process && !st.waiting.empty()
         && st.written.size() + st.abandoned.size() < st.options.pipeline_depth
         && (st.options.max_calls == 0 || st.calls_sent < st.options.max_calls)) {
    auto first = st.waiting.begin();
    uint64_t ticket = first->first;
    auto& body = first->second.request.body;
    size_t start = frames.size();
    frames.resize(start + worker::request_header_size);
    worker::put_u64(frames.data() + start + 4, ticket);
    frames.insert(frames.end(), body.begin(), body.end());
    worker::seal_frame(frames, start);
    auto& c = first->second;
    if (c.reply.sink.completion) { // the I/O thread may complete it directly
      st.sinks->put(ticket, std::move(c.reply.sink));
      c.sink_in_table = true;
    }
    st.written.emplace(ticket, std::move(c));
    st.waiting.erase(first);
    ++st.calls_sent;
  }
  if (!frames.empty())
    st.process->send(frames.data(), frames.size());
  maybe_quit(self);
}

/// Sets the one timer for the earliest deadline, if it is not set already.
void arm_timer(self_pointer self) {
  auto& st = self->state;
  if (st.deadlines.empty() || st.deadlines.begin()->first >= st.timer_at)
    return;
  st.timer_at = st.deadlines.begin()->first;
  auto wait = std::max(st.timer_at - worker_actor_state::clock_type::now(),
                       worker_actor_state::clock_type::duration::zero());
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(wait),
                     timeout_atom_v, uint64_t{0});
}

void accept(self_pointer self, call_request&& request, worker_actor_state::reply_to&& reply) {
  auto& st = self->state;
  if (st.mode != phase::serving) {
    hand_back(self, call{std::move(request), std::move(reply)});
    return;
  }
  uint64_t ticket = st.next_ticket++;
  auto timeout = request.timeout_ms > 0 ? std::chrono::milliseconds(request.timeout_ms)
                                        : st.options.default_timeout;
  call c{std::move(request), std::move(reply)};
  c.ticket = ticket;
  if (timeout.count() > 0) {
    c.deadline = worker_actor_state::clock_type::now() + timeout;
    st.deadlines.emplace(c.deadline, ticket);
  }
  st.waiting.emplace(ticket, std::move(c));
  arm_timer(self);
  pump(self);
}

/// Ends a call early (timeout or cancel): answers it and, when the process is
/// running it, interrupts it.
void end_early(self_pointer self, uint64_t ticket, errc code, const std::string& why) {
  auto& st = self->state;
  if (auto i = st.waiting.find(ticket); i != st.waiting.end()) {
    auto c = std::move(i->second);
    st.waiting.erase(i);
    st.answer(c, make_error_reply(code, why + " while it waited for " + st.label()));
    return;
  }
  auto i = st.written.find(ticket);
  if (i == st.written.end())
    return; // already answered
  // The process runs calls in ticket order: this one runs now if no earlier
  // call, answered or abandoned, is still ahead of it.
  bool running = i == st.written.begin()
                 && (st.abandoned.empty() || st.abandoned.begin()->first > ticket);
  auto c = std::move(i->second);
  st.written.erase(i);
  st.abandoned.emplace(ticket, running);
  st.answer(c, make_error_reply(code, why + " on " + st.label()
                                              + (running ? "; the running call was interrupted" : "")));
  if (running && st.process) {
    st.process->interrupt(ticket); // KeyboardInterrupt in the running Python code
    // A signal that lands just before a blocking call (time.sleep) starts is
    // only seen when it returns: interrupt once more, then kill.
    self->delayed_send(self, reinterrupt_delay, kill_atom_v, ticket | reinterrupt_flag);
    self->delayed_send(self, st.options.interrupt_grace, kill_atom_v, ticket);
  } else if (st.process) {
    // Not started yet: ask the process to skip it.
    char skip[worker::request_header_size];
    worker::put_u32(skip, 8);
    worker::put_u64(skip + 4, ticket | worker::skip_flag);
    st.process->send(skip, sizeof(skip));
  }
}

void on_cancel(self_pointer self, uint64_t request_id) {
  auto& st = self->state;
  for (auto* calls : {&st.waiting, &st.written})
    for (auto& entry : *calls)
      if (entry.second.request.request_id == request_id) {
        end_early(self, entry.first, errc::cancelled, "the call was cancelled");
        return;
      }
}

void on_kill_check(self_pointer self, uint64_t ticket) {
  auto& st = self->state;
  if (ticket & reinterrupt_flag) {
    ticket &= ~reinterrupt_flag;
    if (st.abandoned.count(ticket) > 0 && st.process)
      st.process->interrupt(ticket);
    return;
  }
  if (st.abandoned.count(ticket) > 0 && st.process) {
    st.options.spawn.log("[" + st.label() + "] still busy with interrupted call " + std::to_string(ticket)
                         + " after " + std::to_string(st.options.interrupt_grace.count())
                         + " ms: killing the process");
    st.process->signal(SIGKILL);
  }
}

void on_exited(self_pointer self, const std::string& reason) {
  auto& st = self->state;
  auto what = st.label() + " " + reason;
  auto written = std::move(st.written);
  st.written.clear();
  // The process runs calls in order, and every reply it sent was read
  // before its exit was reported: the first call still written was running
  // (unless an abandoned call ahead of it was), the others never started.
  // Only the running call fails; the others wait again, and start_leaving
  // hands them back to the scheduler after it said `leave`.
  bool abandoned_ahead = !st.abandoned.empty()
                         && (written.empty() || st.abandoned.begin()->first < written.begin()->first);
  bool running = abandoned_ahead || !written.empty();
  if (running && st.options.stats->state.load() == static_cast<uint8_t>(worker_state::ready))
    st.options.stats->died_running_call.store(true);
  st.abandoned.clear();
  bool first = !abandoned_ahead;
  for (auto& entry : written) {
    auto& c = entry.second;
    if (first) {
      first = false;
      st.answer(c, make_error_reply(errc::worker_crashed, what + " while running the call"));
      continue;
    }
    if (c.sink_in_table) { // take the sink back from the I/O thread's table
      c.reply.sink = st.sinks->take(c.ticket);
      c.sink_in_table = false;
      if (!c.reply.sink.completion)
        continue; // already answered
    }
    st.waiting.emplace(entry.first, std::move(c));
  }
  st.exit_reason = what;
  start_leaving(self, phase::leaving);
}

} // namespace

// -- worker_actor_state -----------------------------------------------------------------

void worker_actor_state::reply_to::deliver(call_reply&& reply) {
  if (sink.completion)
    sink.completion->deliver(std::move(reply));
  else if (promise.pending())
    promise.deliver(std::move(reply));
}

std::string worker_actor_state::label() const {
  return "worker " + std::to_string(options.spawn.slot) + " (pid "
         + std::to_string(process ? process->pid() : -1) + ")";
}

void worker_actor_state::answer(call& c, call_reply&& r) {
  forget_deadline(c);
  options.stats->load.fetch_sub(1);
  if (!c.sink_in_table) {
    c.reply.deliver(std::move(r));
  } else if (auto sink = sinks->take(c.ticket); sink.completion) {
    sink.completion->deliver(std::move(r));
  } // else the I/O thread already delivered the reply
}

void worker_actor_state::forget_deadline(const call& c) {
  if (c.deadline != clock_type::time_point::max())
    deadlines.erase({c.deadline, c.ticket});
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

void worker_actor_state::on_frame(uint64_t ticket, uint8_t status, std::vector<char>&& payload) {
  auto i = written.find(ticket);
  if (i == written.end()) {
    abandoned.erase(ticket); // an interrupted call finished after all
    return;
  }
  // Calls run in order: anything abandoned before this one is done.
  abandoned.erase(abandoned.begin(), abandoned.lower_bound(ticket));
  auto c = std::move(i->second);
  written.erase(i);
  options.stats->served.fetch_add(1, std::memory_order_relaxed);
  answer(c, call_reply{reply_code_of(status), std::move(payload)});
}

worker_actor_state::~worker_actor_state() {
  auto why = make_error_reply(errc::worker_crashed, "worker " + std::to_string(options.spawn.slot)
                                                      + " stopped before the call finished");
  for (auto* calls : {&waiting, &written})
    for (auto& entry : *calls) {
      auto copy = why;
      answer(entry.second, std::move(copy));
    }
  process.reset(); // kills the process and joins the I/O thread
}

// -- behavior -----------------------------------------------------------------------------

worker_actor::behavior_type worker_behavior(self_pointer self, worker_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  if (st.options.pipeline_depth == 0)
    st.options.pipeline_depth = 1;
  // The I/O thread holds only a weak handle: it must not keep the actor alive.
  caf::weak_actor_ptr weak = self->ctrl();
  worker_events events;
  // The I/O thread completes C++ API calls itself and passes the frames of
  // each read to the actor in one message.
  auto batch = std::make_shared<std::vector<reply_frame>>(); // owned by the I/O thread
  events.on_frame = [batch, sinks = st.sinks](uint64_t id, uint8_t status,
                                              std::vector<char> payload) {
    if (auto sink = sinks->take(id); sink.completion) {
      sink.completion->deliver(call_reply{reply_code_of(status), std::move(payload)});
      payload = {}; // delivered: the actor only keeps the books
    }
    batch->push_back(reply_frame{id, status, std::move(payload)});
  };
  events.on_batch_end = [weak, batch] {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor>(strong), reply_atom_v, std::move(*batch));
    batch->clear();
  };
  events.on_exit = [weak](process_exit exit) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor>(strong), exited_atom_v, std::move(exit.reason));
  };
  auto started = worker_process::start(st.options.spawn, std::move(events));
  if (st.options.scheduler)
    self->send(st.options.scheduler, worker_atom_v,
               worker_entry{st.options.spawn.slot, st.options.spawn.uid,
                            caf::actor_cast<worker_actor>(self), st.options.stats});
  if (started) {
    st.process = std::move(started).value();
    st.options.stats->pid.store(st.process->pid());
  } else {
    st.options.spawn.log("[worker " + std::to_string(st.options.spawn.slot) + "] "
                         + started.error().message);
    st.exit_reason = started.error().message;
    start_leaving(self, phase::leaving);
  }
  return {
    [=](call_atom, call_request& request) -> caf::typed_response_promise<call_reply> {
      auto promise = self->make_response_promise<call_reply>();
      accept(self, std::move(request), worker_actor_state::reply_to{promise, {}});
      return promise;
    },
    [=](call_atom, call_request& request, reply_sink& sink) {
      accept(self, std::move(request), worker_actor_state::reply_to{{}, std::move(sink)});
    },
    [=](cancel_atom, uint64_t request_id) { on_cancel(self, request_id); },
    [=](drain_atom) { start_leaving(self, phase::draining); },
    [=](reply_atom, std::vector<reply_frame>& frames) {
      auto& st = self->state;
      for (auto& f : frames) {
        if (f.call_id == 0) { // the ready frame
          st.options.stats->state.store(static_cast<uint8_t>(worker_state::ready));
          if (st.options.supervisor)
            self->send(st.options.supervisor, ready_atom_v, st.options.spawn.slot,
                       st.options.spawn.uid);
          continue;
        }
        st.on_frame(f.call_id, f.status, std::move(f.payload));
      }
      if (st.options.max_calls > 0 && st.options.stats->served.load() >= st.options.max_calls
          && st.mode == phase::serving)
        start_leaving(self, phase::draining); // recycle against leaks
      pump(self);
    },
    [=](exited_atom, std::string& reason) { on_exited(self, reason); },
    [=](timeout_atom, uint64_t) {
      auto& st = self->state;
      auto now = worker_actor_state::clock_type::now();
      if (now >= st.timer_at)
        st.timer_at = worker_actor_state::clock_type::time_point::max(); // this timer fired
      std::vector<uint64_t> due;
      for (auto& d : st.deadlines) {
        if (d.first > now)
          break;
        due.push_back(d.second);
      }
      for (auto ticket : due)
        end_early(self, ticket, errc::timeout, "the call did not finish within its timeout");
      arm_timer(self);
      pump(self);
    },
    [=](kill_atom, uint64_t ticket) { on_kill_check(self, ticket); },
  };
}

} // namespace pyactor::actors
