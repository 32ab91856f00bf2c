// An actor without a mailbox: it handles each message on the sender's thread.
#pragma once

#include <caf/mailbox_element.hpp>
#include <caf/monitorable_actor.hpp>

namespace pyactor::cluster {

/// Base of the ports (call_port.hpp, client_port.hpp): `handle` runs on the
/// thread that sends the message (the middleman's for a remote sender), so
/// there is no mailbox and no scheduler hop. Registered with the actor
/// system while it lives. An exit message stops it; after that, messages go
/// to `handle_stopped`. `handle` and `handle_stopped` must be thread-safe.
class inline_actor : public caf::monitorable_actor {
public:
  explicit inline_actor(caf::actor_config& cfg);

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* eu) final;

  void on_destroy() override;

protected:
  /// A message (never an exit message) for the running actor.
  virtual void handle(caf::mailbox_element_ptr what, caf::execution_unit* eu) = 0;

  /// A message after the actor stopped: answers a request with
  /// `request_receiver_down`, as a dead actor would; drops anything else.
  virtual void handle_stopped(caf::mailbox_element& what, caf::execution_unit* eu);
};

} // namespace pyactor::cluster
