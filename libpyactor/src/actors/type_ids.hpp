// The one CAF type-ID block of pyactor: every message type and atom.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/type_id.hpp>

#include "actors/messages.hpp"
#include "actors/worker_info.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(pyactor, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(pyactor, (pyactor::actors::call_request))
  CAF_ADD_TYPE_ID(pyactor, (pyactor::actors::call_reply))
  CAF_ADD_TYPE_ID(pyactor, (pyactor::actors::worker_status))
  CAF_ADD_TYPE_ID(pyactor, (std::vector<pyactor::actors::worker_status>))
  CAF_ADD_TYPE_ID(pyactor, (pyactor::actors::restart_record))
  CAF_ADD_TYPE_ID(pyactor, (std::vector<pyactor::actors::restart_record>))
  CAF_ADD_TYPE_ID(pyactor, (std::vector<uint64_t>))
  CAF_ADD_TYPE_ID(pyactor, (pyactor::actors::reply_frame))
  CAF_ADD_TYPE_ID(pyactor, (std::vector<pyactor::actors::reply_frame>))
  CAF_ADD_ATOM(pyactor, pyactor::actors, call_atom, "call")
  CAF_ADD_ATOM(pyactor, pyactor::actors, reply_atom, "reply")
  CAF_ADD_ATOM(pyactor, pyactor::actors, exited_atom, "exited")
  CAF_ADD_ATOM(pyactor, pyactor::actors, timeout_atom, "timeout")
  CAF_ADD_ATOM(pyactor, pyactor::actors, status_atom, "status")
  CAF_ADD_ATOM(pyactor, pyactor::actors, ready_atom, "ready")
  CAF_ADD_ATOM(pyactor, pyactor::actors, worker_atom, "worker")
  CAF_ADD_ATOM(pyactor, pyactor::actors, kill_atom, "kill")
  CAF_ADD_ATOM(pyactor, pyactor::actors, cancel_atom, "cancel")
  CAF_ADD_ATOM(pyactor, pyactor::actors, leave_atom, "leave")
  CAF_ADD_ATOM(pyactor, pyactor::actors, drain_atom, "drain")
  CAF_ADD_ATOM(pyactor, pyactor::actors, grow_atom, "grow")
  CAF_ADD_ATOM(pyactor, pyactor::actors, shrink_atom, "shrink")
  CAF_ADD_ATOM(pyactor, pyactor::actors, history_atom, "history")
  CAF_ADD_ATOM(pyactor, pyactor::actors, held_atom, "held")
  CAF_ADD_ATOM(pyactor, pyactor::actors, flush_atom, "flush")
  CAF_ADD_ATOM(pyactor, pyactor::actors, log_atom, "log")
CAF_END_TYPE_ID_BLOCK(pyactor)
