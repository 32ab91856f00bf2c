// The networked actor system of a head, node or client.
#pragma once

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "cluster/node_manager_actor.hpp"
#include "pyactor/cluster.hpp"

namespace pyactor {
class runtime;
}

namespace pyactor::cluster {

/// An actor system with the io middleman and the openssl module, heartbeats
/// (`net.heartbeat`, `net.connection_timeout`), pyactor's application id and
/// message types, and mutual TLS when `net.tls` names a CA.
struct cluster_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  bool tls = false;

  ~cluster_system();
};

/// Sets up `cfg` as `cluster_system` does; answers whether TLS is on, or
/// an error naming the bad option.
result<bool> configure_network(caf::actor_system_config& cfg, const network_options& net);

/// Starts it; fails with a message naming the bad option.
result<std::unique_ptr<cluster_system>> start_cluster_system(const network_options& net);

/// Reaches into a runtime for the cluster: its actor system, scheduler and
/// supervisor. The runtime must outlive every use of the handles.
struct pool_access {
  /// Call on the thread that owns the runtime (it spawns the bridge).
  static pool_handles handles(runtime& rt);
  /// Stops the bridge and waits until it is gone.
  static void stop_bridge(pool_handles& h);
};

} // namespace pyactor::cluster
