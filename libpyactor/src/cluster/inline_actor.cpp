#include "cluster/inline_actor.hpp"

#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/system_messages.hpp>
#include <caf/sec.hpp>

namespace pyactor::cluster {

inline_actor::inline_actor(caf::actor_config& cfg) : caf::monitorable_actor(cfg) {
  register_at_system();
}

void inline_actor::enqueue(caf::mailbox_element_ptr what, caf::execution_unit* eu) {
  auto& content = what->content();
  if (content.match_elements<caf::exit_msg>()) {
    if (cleanup(caf::error{content.get_as<caf::exit_msg>(0).reason}, eu))
      unregister_from_system();
    return;
  }
  if (getf(is_terminated_flag)) {
    handle_stopped(*what, eu);
    return;
  }
  handle(std::move(what), eu);
}

void inline_actor::on_destroy() {
  if (!getf(is_cleaned_up_flag)) {
    cleanup(caf::exit_reason::unreachable, nullptr);
    monitorable_actor::on_destroy();
    unregister_from_system();
  }
}

void inline_actor::handle_stopped(caf::mailbox_element& what, caf::execution_unit* eu) {
  if (what.mid.is_request() && what.sender)
    what.sender->enqueue(nullptr, what.mid.response_id(),
                         caf::make_message(caf::make_error(caf::sec::request_receiver_down)), eu);
}

} // namespace pyactor::cluster
