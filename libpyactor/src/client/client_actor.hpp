// The client actor: where the C++ API's threads hand work to CAF.
#pragma once

#include <functional>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

namespace pyactor::client {

/// Work for the client actor: runs on a CAF thread with the actor as `self`
/// (so it can `request` other actors and answer a waiting thread through a
/// promise). Local only.
struct client_job {
  std::function<void(caf::event_based_actor*)> run;
};

/// Runs every `client_job` sent to it, one at a time. It is how the API
/// talks to actors without a `scoped_actor` on the caller's thread (an
/// `actor_system` waits, when destroyed, for every thread that ever used
/// one: shared/caf-0.17.md §10), and how callbacks of refused or cancelled
/// calls run on a CAF thread instead of inside the call that caused them.
/// A job that throws is logged through `log` and the actor carries on.
caf::behavior client_behavior(caf::event_based_actor* self,
                              std::function<void(const std::string&)> log);

} // namespace pyactor::client

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::client::client_job)
