// The messages that travel between pyactor's actors. Payloads stay msgpack
// bytes end to end: they are encoded once by the caller and decoded once by
// whoever consumes the result (design.md "One call, end to end").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>

#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor::actors {

/// No worker pin: the scheduler's policy picks.
constexpr uint64_t any_worker = 0;

/// One call: the msgpack request body (`[op, params...]`, see
/// worker/protocol.hpp) plus what the runtime needs to route and time it.
struct call_request {
  std::vector<char> body;
  /// Milliseconds until the caller gets `timeout`; 0 takes the pool default.
  uint32_t timeout_ms = 0;
  /// Run on the worker with this slot id (1-based); `any_worker` lets the policy pick.
  uint64_t pin_slot = any_worker;
  /// Run on the worker incarnation holding an object the call uses (object
  /// affinity); 0 when the call uses no object reference.
  uint64_t owner_uid = 0;
  /// Names the call for `cancel`; unique per runtime, 0 when not cancellable.
  uint64_t request_id = 0;
  /// Routing hint for the affinity policy (e.g. "math.pow").
  std::string affinity_key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_request& x) {
  return f(caf::meta::type_name("pyactor::call_request"), x.body, x.timeout_ms, x.pin_slot,
           x.owner_uid, x.request_id, x.affinity_key);
}

/// The one reply to a call. `code` 0 means success and `payload` is the
/// msgpack result; otherwise `code` is an `errc` and `payload` is the msgpack
/// array [python_type, message, traceback].
struct call_reply {
  uint8_t code = 0;
  std::vector<char> payload;

  bool ok() const { return code == 0; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_reply& x) {
  return f(caf::meta::type_name("pyactor::call_reply"), x.code, x.payload);
}

/// One reply frame from a worker process, as its I/O thread passes it on.
/// An empty payload with status ok after a fast completion means the caller
/// already has its reply: the actor only keeps the books.
struct reply_frame {
  uint64_t call_id = 0;
  uint8_t status = 0;
  std::vector<char> payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reply_frame& x) {
  return f(caf::meta::type_name("pyactor::reply_frame"), x.call_id, x.status, x.payload);
}

/// Builds the reply for an error raised by the runtime itself.
call_reply make_error_reply(errc code, const std::string& message);

/// Decodes the error half of a reply (code != 0).
error decode_error_reply(const call_reply& reply);

/// Builds the error `code` from decoded details [python_type, message,
/// traceback]; missing or malformed details give a message saying so.
error error_from_details(errc code, const value& details);

/// Decodes a whole reply: the result value, or the error.
result<value> decode_reply(const call_reply& reply);

/// Receives the reply of a call made without an actor on the caller's side
/// (the C++ API). `complete` runs on the I/O thread of the worker that
/// answered (a reply frame) or on a CAF thread (an answer the runtime
/// decides: timeout, cancel, crash, refusal), and must be quick.
/// Exactly-once is enforced here: a completion destroyed before any reply
/// (its message dropped by a dead actor) completes itself with `worker_crashed`.
class call_completion {
public:
  virtual ~call_completion();

  /// Delivers the reply; later calls are ignored.
  void deliver(call_reply&& reply);

protected:
  virtual void complete(call_reply&& reply) = 0;

  /// Derived destructors call this first: completes with an error if no
  /// reply came (a virtual call from the base destructor would be too late).
  void complete_if_abandoned() noexcept;

  bool done() const { return done_; }

  /// Gives up delivering here: another completion took over.
  void hand_over() { done_ = true; }

private:
  bool done_ = false;
};

/// A handle to a completion that can ride in local CAF messages.
struct reply_sink {
  std::shared_ptr<call_completion> completion;
};

} // namespace pyactor::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::actors::reply_sink)
