// The joiner: keeps a node registered with its head.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "cluster/head_actor.hpp"
#include "cluster/messages.hpp"
#include "cluster/node_manager_actor.hpp"

namespace pyactor::cluster {

/// Connects to the head (through the middleman actor, with a timeout, so a
/// frozen or unreachable head never blocks it), joins with the node manager,
/// and monitors the head. When the head cannot be reached, refuses the join,
/// or is lost, it tries again after `backoff`, doubling up to `max_backoff`;
/// a successful join resets the delay. The node's workers keep running
/// meanwhile. Its only message is its own timer.
using joiner_actor = caf::typed_actor<caf::reacts_to<refresh_tick>, caf::reacts_to<keepalive_tick>>;

struct joiner_config {
  std::string host;
  uint16_t port = 0;
  std::string name;
  int64_t pid = 0;
  /// The node pool's uid tag (see `uid_tag_of`).
  uint64_t uid_tag = 0;
  /// Where clients reach the manager directly (see join_info).
  std::string listen_host;
  uint16_t listen_port = 0;
  bool tls = false;
  node_manager_actor manager;
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds attempt_timeout{5000};
  /// How often a joined node sends the head a keepalive.
  std::chrono::milliseconds keepalive{250};
  std::function<void(const std::string&)> log;
};

struct joiner_state {
  joiner_config config;
  head_actor head;
  std::chrono::milliseconds delay{0};
  bool attempting = false;
  uint64_t attempts = 0;

  static const char* name;
};

joiner_actor::behavior_type joiner_behavior(joiner_actor::stateful_pointer<joiner_state> self,
                                            joiner_config config);

} // namespace pyactor::cluster
