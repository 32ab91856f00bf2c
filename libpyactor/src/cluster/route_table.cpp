#include "cluster/route_table.hpp"

#include <algorithm>

namespace pyactor::cluster {

void route_table::update(const std::vector<node_report>& reports,
                         const std::vector<std::pair<uint32_t, int64_t>>& own_at_ask) {
  for (auto& r : reports) {
    if (r.index == 0)
      continue;
    auto* route = by_index(r.index);
    if (route == nullptr) {
      routes_.emplace_back();
      route = &routes_.back();
      route->index = r.index;
    }
    route->name = r.name;
    route->uid_tag = r.uid_tag;
    if (route->node_id != r.node_id || (!r.direct.empty() && route->direct != r.direct)) {
      // Another incarnation: connect again.
      route->direct = r.direct;
      route->node_id = r.node_id;
      route->state = node_route::link_state::none;
      route->manager = nullptr;
      route->why.clear();
    }
    route->up = r.state == "up" && !r.draining;
    route->ready = 0;
    route->reported = 0;
    for (auto& w : r.workers) {
      if (w.state == "ready")
        ++route->ready;
      route->reported += w.in_flight;
    }
    route->own_at_ask = 0;
    for (auto& [index, own] : own_at_ask)
      if (index == r.index)
        route->own_at_ask = own;
  }
}

node_route* route_table::by_index(uint32_t index) {
  for (auto& r : routes_)
    if (r.index == index)
      return &r;
  return nullptr;
}

node_route* route_table::by_tag(uint64_t uid_tag) {
  for (auto& r : routes_)
    if (r.uid_tag == uid_tag && uid_tag != 0)
      return &r;
  return nullptr;
}

node_route* route_table::pick() {
  node_route* best = nullptr;
  auto count = routes_.size();
  for (size_t k = 0; k < count; ++k) {
    auto& r = routes_[(rotation_ + k) % count];
    if (!r.up || r.ready == 0)
      continue;
    // load / ready, compared without division
    if (best == nullptr || r.load() * best->ready < best->load() * r.ready)
      best = &r;
  }
  ++rotation_;
  return best;
}

std::vector<std::pair<uint32_t, int64_t>> route_table::own_counts() const {
  std::vector<std::pair<uint32_t, int64_t>> out;
  for (auto& r : routes_)
    out.emplace_back(r.index, std::max<int64_t>(0, r.own->load()));
  return out;
}

} // namespace pyactor::cluster
