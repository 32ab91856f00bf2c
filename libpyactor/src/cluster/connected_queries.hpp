// The pool queries of a connected runtime that need the cluster's shape
// (runtime::connect; the local runtime answers them from its supervisor).
#pragma once

#include <vector>

#include "pyactor/runtime.hpp"

namespace pyactor::cluster {

/// The recent restarts and give-ups of every node that is up, each named by
/// its node, with cluster worker ids (`cluster_worker_id`); oldest first
/// within a node, nodes in the head's order. Empty when the head is lost.
std::vector<restart_info> connected_restarts(const runtime::impl& rt);

} // namespace pyactor::cluster
