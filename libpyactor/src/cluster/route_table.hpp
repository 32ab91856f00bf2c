// A connected runtime's view of the cluster's nodes: where each one is
// reached and how loaded it is, for sending calls straight to their node.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/messages.hpp"
#include "cluster/node_manager_actor.hpp"

namespace pyactor::cluster {

/// One node as a connected runtime routes to it.
struct node_route {
  enum class link_state { none, connecting, direct, failed };

  uint32_t index = 0;
  std::string name;
  uint64_t uid_tag = 0;
  /// "ADDR:PORT" of its manager for clients, "" when it has none.
  std::string direct;
  /// `to_string` of the manager's node id (node_report::node_id).
  std::string node_id;
  bool up = false;
  uint32_t ready = 0;
  /// Calls in flight on its workers at the last report (every client's).
  int64_t reported = 0;
  /// This runtime's calls in flight there now (shared with the client
  /// port, which counts the calls it sends), and when the report was asked.
  std::shared_ptr<std::atomic<int64_t>> own = std::make_shared<std::atomic<int64_t>>(0);
  int64_t own_at_ask = 0;
  link_state state = link_state::none;
  /// The manager reached directly (state `direct`).
  node_manager_actor manager;
  /// Why it is not reached directly (state `failed`), and when it was tried (ms).
  std::string why;
  int64_t tried_ms = 0;

  /// Calls in flight on it, counting other clients through the last report.
  int64_t load() const {
    return std::max<int64_t>(0, own->load()) + std::max<int64_t>(0, reported - own_at_ask);
  }
};

class route_table {
public:
  /// Takes a report of every node (head's `nodes` or `status`); `own_at_ask`
  /// gives, per node index, this runtime's calls there when it was asked.
  /// A node whose manager changed (another node id or address) loses its
  /// direct link: the caller connects again.
  void update(const std::vector<node_report>& reports,
              const std::vector<std::pair<uint32_t, int64_t>>& own_at_ask);

  node_route* by_index(uint32_t index);
  node_route* by_tag(uint64_t uid_tag);
  /// The up node with a ready worker and the fewest calls in flight per
  /// ready worker (ties rotate); nullptr when there is none.
  node_route* pick();
  /// Per node index, this runtime's calls in flight there now.
  std::vector<std::pair<uint32_t, int64_t>> own_counts() const;

  std::vector<node_route>& all() { return routes_; }

private:
  std::vector<node_route> routes_;
  size_t rotation_ = 0;
};

} // namespace pyactor::cluster
