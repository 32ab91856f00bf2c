#include "pyactor/actors/worker_actor.hpp"

#include <csignal>

#include <caf/all.hpp>

#include "pyactor/worker/protocol.hpp"

namespace pyactor::actors {

const char* worker_actor_state::name = "pyactor.worker";

namespace {

using self_pointer = worker_actor::stateful_pointer<worker_actor_state>;

std::string worker_label(const worker_actor_state& st) {
  return "worker " + std::to_string(st.options.spawn.slot) + " (pid "
         + std::to_string(st.process ? st.process->pid() : -1) + ")";
}

/// Writes `request` to the process and records who waits for the reply.
void submit(self_pointer self, const call_request& request, worker_actor_state::pending entry) {
  auto& st = self->state;
  if (!st.process) {
    entry.deliver(make_error_reply(errc::worker_crashed, worker_label(st) + " has no process"));
    return;
  }
  uint64_t id = st.next_call_id++;
  auto& frame = st.frame;
  frame.resize(worker::request_header_size);
  worker::put_u64(frame.data() + 4, id);
  frame.insert(frame.end(), request.body.begin(), request.body.end());
  worker::seal_frame(frame, 0);
  st.process->send(frame.data(), frame.size());
  st.in_flight.emplace(id, std::move(entry));
  st.update_stats();
  auto timeout = request.timeout_ms > 0 ? std::chrono::milliseconds(request.timeout_ms)
                                        : st.options.default_timeout;
  if (timeout.count() > 0)
    self->delayed_send(self, timeout, timeout_atom_v, id);
}

void on_timeout(self_pointer self, uint64_t id) {
  auto& st = self->state;
  auto i = st.in_flight.find(id);
  if (i == st.in_flight.end())
    return; // answered in time
  bool running = i == st.in_flight.begin();
  auto pending = std::move(i->second);
  st.in_flight.erase(i);
  st.abandoned.emplace(id, running);
  st.update_stats();
  pending.deliver(make_error_reply(errc::timeout, "the call did not finish within its timeout on "
                                                    + worker_label(st)
                                                    + (running ? "; it was interrupted" : "")));
  if (running && st.process) {
    st.process->signal(SIGINT); // KeyboardInterrupt in the running Python code
    self->delayed_send(self, st.options.interrupt_grace, kill_atom_v, id);
  }
}

void on_kill_check(self_pointer self, uint64_t id) {
  auto& st = self->state;
  if (st.abandoned.count(id) > 0 && st.process) {
    st.options.spawn.log("[" + worker_label(st) + "] still busy with timed-out call " + std::to_string(id)
                         + " after SIGINT: killing it");
    st.process->signal(SIGKILL);
  }
}

} // namespace

void worker_actor_state::pending::deliver(call_reply&& reply) {
  if (sink.completion)
    sink.completion->deliver(std::move(reply));
  else if (promise.pending())
    promise.deliver(std::move(reply));
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

void worker_actor_state::on_frame(uint64_t call_id, uint8_t status, std::vector<char>&& payload) {
  auto i = in_flight.find(call_id);
  if (i == in_flight.end()) {
    abandoned.erase(call_id); // a timed-out call finished after all
    return;
  }
  // Calls run in order: anything abandoned before this one is done.
  abandoned.erase(abandoned.begin(), abandoned.lower_bound(call_id));
  auto pending = std::move(i->second);
  in_flight.erase(i);
  options.stats->served.fetch_add(1, std::memory_order_relaxed);
  update_stats();
  pending.deliver(call_reply{reply_code_of(status), std::move(payload)});
}

void worker_actor_state::fail_all(errc code, const std::string& message) {
  auto calls = std::move(in_flight);
  in_flight.clear();
  abandoned.clear();
  update_stats();
  for (auto& entry : calls)
    entry.second.deliver(make_error_reply(code, message));
}

void worker_actor_state::update_stats() {
  if (options.stats)
    options.stats->in_flight.store(static_cast<uint32_t>(in_flight.size()),
                                   std::memory_order_relaxed);
}

worker_actor_state::~worker_actor_state() {
  fail_all(errc::worker_crashed, "worker " + std::to_string(options.spawn.slot)
                                   + " stopped before the call finished");
  process.reset(); // kills the process and joins the I/O thread
}

worker_actor::behavior_type worker_behavior(self_pointer self, worker_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  st.options.stats->state.store(static_cast<uint8_t>(worker_state::starting));
  // The I/O thread holds only a weak handle: it must not keep the actor alive.
  caf::weak_actor_ptr weak = self->ctrl();
  worker_events events;
  events.on_frame = [weak](uint64_t id, uint8_t status, std::vector<char> payload) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor>(strong), reply_atom_v, id, status,
                     std::move(payload));
  };
  events.on_exit = [weak](process_exit exit) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<worker_actor>(strong), exited_atom_v, std::move(exit.reason));
  };
  auto started = worker_process::start(st.options.spawn, std::move(events));
  if (started) {
    st.process = std::move(started).value();
    st.options.stats->pid.store(st.process->pid());
  } else {
    st.options.spawn.log("[worker " + std::to_string(st.options.spawn.slot) + "] "
                         + started.error().message);
    self->quit(caf::make_error(caf::sec::runtime_error, started.error().message));
  }
  return {
    [=](call_atom, call_request& request) -> caf::typed_response_promise<call_reply> {
      auto promise = self->make_response_promise<call_reply>();
      submit(self, request, worker_actor_state::pending{promise, {}});
      return promise;
    },
    [=](call_atom, call_request& request, reply_sink& sink) {
      submit(self, request, worker_actor_state::pending{{}, std::move(sink)});
    },
    [=](reply_atom, uint64_t id, uint8_t status, std::vector<char>& payload) {
      auto& st = self->state;
      if (id == 0) { // the ready frame
        st.options.stats->state.store(static_cast<uint8_t>(worker_state::ready));
        if (st.options.supervisor)
          self->send(st.options.supervisor, ready_atom_v, st.options.spawn.slot,
                     st.options.spawn.uid);
        return;
      }
      st.on_frame(id, status, std::move(payload));
    },
    [=](exited_atom, std::string& reason) {
      auto& st = self->state;
      auto what = worker_label(st) + " " + reason;
      st.fail_all(errc::worker_crashed, what + " while the call was in flight");
      self->quit(caf::make_error(caf::sec::runtime_error, std::move(what)));
    },
    [=](timeout_atom, uint64_t id) { on_timeout(self, id); },
    [=](kill_atom, uint64_t id) { on_kill_check(self, id); },
  };
}

} // namespace pyactor::actors
