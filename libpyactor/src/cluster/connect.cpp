// runtime::connect: the runtime API against a running cluster, and the
// cluster half of the runtime API (nodes, add_workers on a node, remove_node).
#include <cstdio>
#include <future>
#include <mutex>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "client/runtime_impl.hpp"
#include "cluster/cluster_system.hpp"
#include "cluster/connected_queries.hpp"
#include "cluster/head_link_actor.hpp"
#include "pyactor/cluster.hpp"

namespace pyactor {

namespace {

void log_to_stderr(const std::string& line) {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  std::fprintf(stderr, "%s\n", line.c_str());
}

constexpr auto question_wait = std::chrono::seconds(30);

/// Connects to the head at `head` from a short-lived actor; the calling
/// thread waits on a promise (no scoped_actor here: shared/caf-0.17.md §10).
result<caf::actor> reach_head(caf::actor_system& sys, bool tls, const cluster::endpoint& head,
                              std::chrono::milliseconds timeout) {
  auto mm = tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  auto promise = std::make_shared<std::promise<result<caf::actor>>>();
  auto future = promise->get_future();
  auto where = head.to_string();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(mm, timeout, caf::connect_atom::value, head.host, head.port)
      .then(
        [=](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
          if (!ptr)
            promise->set_value(make_error(errc::node_down, "nothing is published at " + where
                                                             + ": is `pyactor head` running?"));
          else
            promise->set_value(caf::actor_cast<caf::actor>(std::move(ptr)));
        },
        [=](caf::error& err) {
          promise->set_value(make_error(errc::node_down, "cannot connect to the head at " + where
                                                           + ": " + caf::to_string(err)));
        });
  });
  return future.get();
}

} // namespace

result<std::unique_ptr<runtime>> runtime::connect(const std::string& address) {
  return connect(address, cluster::connect_options{});
}

result<std::unique_ptr<runtime>> runtime::connect(const std::string& address,
                                                  const cluster::connect_options& options) {
  auto head = cluster::parse_endpoint(address);
  if (!head)
    return head.error();
  if (options.default_timeout.count() <= 0)
    return make_error(errc::bad_request, "connect_options::default_timeout must be positive, got "
                                           + std::to_string(options.default_timeout.count())
                                           + " ms");
  auto pimpl = std::make_unique<impl>();
  pimpl->options.default_timeout = options.default_timeout;
  pimpl->options.log = options.log ? options.log : log_to_stderr;
  pimpl->connected = true;
  auto tls = cluster::configure_network(pimpl->cfg, options.net);
  if (!tls)
    return tls.error();
  try {
    pimpl->sys = std::make_unique<caf::actor_system>(pimpl->cfg);
  } catch (std::exception& e) {
    return make_error(errc::bad_request, std::string{"cannot start the network layer: "} + e.what());
  }
  // As in start(): the system may be destroyed on another thread.
  struct forget_logger {
    ~forget_logger() { caf::logger::set_current_actor_system(nullptr); }
  } forget;
  auto& sys = *pimpl->sys;
  auto found = reach_head(sys, tls.value(), head.value(), options.connect_timeout);
  if (!found)
    return found.error(); // ~impl stops the system
  cluster::head_link_config lc;
  lc.head = caf::actor_cast<cluster::head_actor>(found.value());
  lc.where = head.value().to_string();
  lc.default_timeout = options.default_timeout;
  lc.keepalive = options.net.heartbeat;
  lc.tls = tls.value();
  lc.log = pimpl->options.log;
  lc.shared = std::make_shared<cluster::client_port_shared>();
  lc.shared->default_timeout = options.default_timeout;
  lc.port = cluster::spawn_client_port(sys, lc.shared);
  auto port = lc.port;
  auto link = sys.spawn(cluster::head_link_behavior, std::move(lc));
  cluster::set_client_port_link(port, caf::actor_cast<caf::actor>(link));
  auto ends = std::make_shared<impl::endpoints>();
  // Calls go to the port: it sends those it can route from the caller's thread.
  ends->scheduler = caf::actor_cast<actors::scheduler_actor>(port);
  ends->supervisor = caf::actor_cast<actors::supervisor_actor>(link);
  pimpl->calls = std::make_shared<client::call_table>(pimpl->options.log);
  ends->client = sys.spawn(client::client_behavior, pimpl->options.log);
  pimpl->ends_ = std::move(ends);
  pimpl->canceller->rt = pimpl.get();
  std::unique_ptr<runtime> rt{new runtime(std::move(pimpl))};
  // The head answers: this is a cluster of this build, not just an open port.
  auto nodes = rt->nodes();
  if (!nodes)
    return make_error(errc::node_down, "the head at " + head.value().to_string()
                                         + " did not list its nodes: " + nodes.error().message);
  return rt;
}

bool runtime::connected() const {
  return impl_->connected;
}

result<std::vector<node_info>> runtime::nodes() const {
  if (!impl_->connected) {
    node_info local;
    local.name = "local";
    local.address = "local";
    local.state = "up";
    local.pid = static_cast<int64_t>(::getpid());
    local.workers = status();
    return std::vector<node_info>{std::move(local)};
  }
  auto reports = impl_->ask<std::vector<cluster::node_report>>(
    caf::make_message(actors::status_atom_v, cluster::nodes_atom::value), question_wait);
  if (!reports)
    return make_error(errc::node_down, reports.error().message);
  std::vector<node_info> out;
  for (auto& r : reports.value()) {
    auto n = cluster::to_node_info(r);
    for (auto& w : n.workers)
      w.id = cluster::cluster_worker_id(r.index, w.id); // the slot, cluster-wide
    out.push_back(std::move(n));
  }
  return out;
}

result<std::vector<uint64_t>> runtime::add_workers(uint32_t n, const std::string& node) {
  if (!impl_->connected) {
    if (!node.empty() && node != "local")
      return make_error(errc::bad_request, "this runtime is a local pool (its one node is "
                                           "\"local\"): no node named '" + node + "'");
    return add_workers(n);
  }
  auto ids = impl_->ask<std::vector<uint64_t>>(
    caf::make_message(actors::grow_atom_v, n, node), std::chrono::minutes(4));
  if (!ids)
    return make_error(errc::bad_request, "add_workers(" + std::to_string(n) + ", \"" + node
                                           + "\"): " + ids.error().message);
  return ids;
}

result<bool> runtime::remove_node(const std::string& name) {
  if (!impl_->connected)
    return make_error(errc::bad_request, "remove_node('" + name + "'): this runtime is a local "
                                         "pool, not connected to a cluster");
  auto why = impl_->ask<std::string>(caf::make_message(cluster::drain_atom::value, name),
                                     std::chrono::hours(24));
  if (!why)
    return make_error(errc::node_down, "remove_node('" + name + "'): " + why.error().message);
  if (!why.value().empty())
    return make_error(errc::bad_request, "remove_node('" + name + "'): " + why.value());
  return true;
}

namespace cluster {

std::vector<restart_info> connected_restarts(const runtime::impl& rt) {
  std::vector<restart_info> out;
  auto per_node = rt.ask<std::vector<node_restarts>>(
    caf::make_message(actors::history_atom_v, nodes_atom::value), question_wait);
  if (!per_node)
    return out;
  for (auto& n : per_node.value())
    for (auto& r : n.records)
      out.push_back(restart_info{cluster_worker_id(n.index, r.slot),
                                 std::chrono::system_clock::time_point{
                                   std::chrono::milliseconds(r.at_ms)},
                                 r.reason, r.given_up, n.node});
  return out;
}

} // namespace cluster

} // namespace pyactor
