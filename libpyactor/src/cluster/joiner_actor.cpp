#include "cluster/joiner_actor.hpp"

#include <algorithm>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace pyactor::cluster {

const char* joiner_state::name = "pyactor.joiner";

namespace {

using self_pointer = joiner_actor::stateful_pointer<joiner_state>;

std::string head_text(const joiner_config& c) {
  return c.host + ":" + std::to_string(c.port);
}

/// Schedules the next attempt after the current delay, then doubles it.
void retry_later(self_pointer self, const std::string& why) {
  auto& st = self->state;
  st.attempting = false;
  st.config.log("[node " + st.config.name + "] " + why + "; retrying in "
                + std::to_string(st.delay.count()) + " ms");
  self->delayed_send(self, st.delay, refresh_tick{});
  st.delay = std::min(st.delay * 2, st.config.max_backoff);
}

void join(self_pointer self, head_actor head) {
  auto& st = self->state;
  join_info info;
  info.name = st.config.name;
  info.pid = st.config.pid;
  info.uid_tag = st.config.uid_tag;
  info.listen_host = st.config.listen_host;
  info.listen_port = st.config.listen_port;
  // The head fills in the workers with its first refresh.
  self->request(head, st.config.attempt_timeout, join_atom::value, std::move(info),
                caf::actor_cast<caf::actor>(st.config.manager))
    .then(
      [=](std::string& refusal) {
        auto& st = self->state;
        if (!refusal.empty()) {
          retry_later(self, "the head at " + head_text(st.config) + " refused to join: " + refusal);
          return;
        }
        st.attempting = false;
        st.head = head;
        st.delay = st.config.backoff;
        self->monitor(head);
        st.config.log("[node " + st.config.name + "] joined the head at " + head_text(st.config));
      },
      [=](caf::error& err) {
        retry_later(self, "joining the head at " + head_text(self->state.config)
                            + " failed: " + caf::to_string(err));
      });
}

void attempt(self_pointer self) {
  auto& st = self->state;
  if (st.attempting || st.head)
    return;
  st.attempting = true;
  ++st.attempts;
  auto& sys = self->home_system();
  auto mm = st.config.tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  self->request(mm, st.config.attempt_timeout, caf::connect_atom::value, st.config.host,
                st.config.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        if (!ptr) {
          retry_later(self, "nothing is published at " + head_text(self->state.config));
          return;
        }
        join(self, caf::actor_cast<head_actor>(std::move(ptr)));
      },
      [=](caf::error& err) {
        retry_later(self, "cannot reach the head at " + head_text(self->state.config) + ": "
                            + caf::to_string(err));
      });
}

} // namespace

joiner_actor::behavior_type joiner_behavior(self_pointer self, joiner_config config) {
  auto& st = self->state;
  st.config = std::move(config);
  if (!st.config.log)
    st.config.log = [](const std::string&) {};
  st.delay = st.config.backoff;
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    if (!st.head || st.head.address() != down.source)
      return;
    st.head = nullptr;
    st.delay = st.config.backoff;
    retry_later(self, "lost the head at " + head_text(st.config) + " ("
                        + caf::to_string(down.reason) + ")");
  });
  attempt(self);
  self->send(self, keepalive_tick{});
  return {
    [=](refresh_tick) { attempt(self); },
    [=](keepalive_tick) {
      if (self->state.head)
        self->send(self->state.head, keepalive_atom::value);
      self->delayed_send(self, self->state.config.keepalive, keepalive_tick{});
    },
  };
}

} // namespace pyactor::cluster
