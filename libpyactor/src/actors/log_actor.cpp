#include "actors/log_actor.hpp"

#include <cstdio>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace pyactor::actors {

namespace {

void write_stderr(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
}

struct log_actor_state {
  log_sink sink;
  static const char* name;
};

const char* log_actor_state::name = "pyactor.log";

log_actor::behavior_type log_behavior(log_actor::stateful_pointer<log_actor_state> self,
                                      log_sink sink) {
  self->state.sink = sink ? std::move(sink) : log_sink{write_stderr};
  return {
    [=](log_atom, const std::string& line) {
      try {
        self->state.sink(line);
      } catch (...) { // a throwing sink must not stop the log: keep the line
        write_stderr(line);
      }
    },
  };
}

} // namespace

log_actor spawn_log_actor(caf::actor_system& sys, log_sink sink) {
  return sys.spawn(log_behavior, std::move(sink));
}

void send_log(const log_actor& log, std::string line) {
  if (log)
    caf::anon_send(log, log_atom_v, std::move(line));
  else
    write_stderr(line);
}

} // namespace pyactor::actors
