// The log actor: where worker output and pool diagnostics go, as a handle.
#pragma once

#include <functional>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/type_ids.hpp"

namespace pyactor::actors {

/// Receives one line of a worker's output or the node's own diagnostics.
/// The log actor calls it on a CAF scheduler thread: it must be thread-safe
/// and should not block for long.
using log_sink = std::function<void(const std::string& line)>;

/// Takes `(log_atom, line)` and hands each line to the sink it was spawned
/// with, in the order one sender sent them. Being a handle, it can be part of
/// a serializable worker spec (`worker_spawn_options`), unlike the sink.
using log_actor = caf::typed_actor<caf::reacts_to<log_atom, std::string>>;

/// Spawns a log actor that hands its lines to `sink` (stderr when empty).
/// It is scheduled, not detached: it stops by itself once no handle to it is
/// left and every line sent to it was handed on, so nothing has to stop it
/// and no line sent before the last handle went away is lost. Serializing a
/// handle registers the actor in the system's registry, which keeps it
/// alive: whoever serializes one must stop it (`send_exit`) at the end.
log_actor spawn_log_actor(caf::actor_system& sys, log_sink sink);

/// Sends `line` to `log`, from an actor or any other thread; writes it to
/// stderr when `log` is invalid.
void send_log(const log_actor& log, std::string line);

} // namespace pyactor::actors
