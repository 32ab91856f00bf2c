#include "cluster/cluster_system.hpp"

#include <cstdio>
#include <fstream>
#include <random>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "actors/call_lane.hpp"
#include "client/runtime_impl.hpp"
#include "cluster/tls_error_queue.hpp"

namespace pyactor::cluster {

void add_cluster_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::pyactor>();
  cfg.add_message_type<join_info>("pyactor::join_info");
  cfg.add_message_type<node_report>("pyactor::node_report");
  cfg.add_message_type<std::vector<node_report>>("std::vector<pyactor::node_report>");
  cfg.add_message_type<worker_result>("pyactor::worker_result");
  cfg.add_message_type<std::vector<worker_result>>("std::vector<pyactor::worker_result>");
  cfg.add_message_type<node_restarts>("pyactor::node_restarts");
  cfg.add_message_type<std::vector<node_restarts>>("std::vector<pyactor::node_restarts>");
  cfg.add_message_type<batched_call>("pyactor::batched_call");
  cfg.add_message_type<std::vector<batched_call>>("std::vector<pyactor::batched_call>");
  cfg.add_message_type<batched_reply>("pyactor::batched_reply");
  cfg.add_message_type<std::vector<batched_reply>>("std::vector<pyactor::batched_reply>");
}

node_info to_node_info(const node_report& r) {
  node_info n;
  n.name = r.name;
  n.address = r.address;
  n.state = r.state;
  n.since = std::chrono::system_clock::time_point{std::chrono::milliseconds(r.since_ms)};
  n.pid = r.pid;
  n.note = r.note;
  for (auto& w : r.workers)
    n.workers.push_back(worker_info{w.slot, w.uid, w.pid, w.state, w.served, w.in_flight,
                                    w.restarts, w.rss_bytes, w.last_exit});
  return n;
}

uint64_t make_uid_tag() {
  std::random_device rd;
  uint64_t tag = 0;
  while (tag == 0)
    tag = (static_cast<uint64_t>(rd()) ^ (static_cast<uint64_t>(rd()) << 8)) & 0xffffffu;
  return tag;
}

cluster_system::~cluster_system() {
  sys.reset();
}

result<bool> configure_network(caf::actor_system_config& cfg, const network_options& net) {
  if (auto ok = net.tls.validate(); !ok)
    return ok.error();
  auto timeout = net.connection_timeout;
  if (timeout.count() == 0)
    timeout = std::chrono::milliseconds(1000);
  if (net.heartbeat.count() <= 0 || timeout <= net.heartbeat)
    return make_error(errc::bad_request,
                      "heartbeat must be positive and connection-timeout longer than it, got "
                        + std::to_string(net.heartbeat.count()) + " ms and "
                        + std::to_string(timeout.count()) + " ms");
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  add_cluster_types(cfg);
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", int64_t{2});
  // Messages from the network are deserialized on the middleman's own
  // thread and handed on from there: the default BASP worker (a scheduler
  // job) cost one more thread wake-up per message (bench/cluster_bench.sh:
  // 5.5 -> 3.7 wake-ups of a node per remote call).
  cfg.set("middleman.workers", int64_t{0});
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::duration_cast<caf::timespan>(net.heartbeat)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::duration_cast<caf::timespan>(timeout)});
  cfg.set("middleman.app-identifiers", std::vector<std::string>{"pyactor-cluster"});
  if (net.tls.enabled()) {
    cfg.openssl_cafile = net.tls.ca;
    cfg.openssl_certificate = net.tls.cert;
    cfg.openssl_key = net.tls.key;
  }
  return net.tls.enabled();
}

result<std::unique_ptr<cluster_system>> start_cluster_system(const network_options& net) {
  auto cs = std::make_unique<cluster_system>();
  auto tls = configure_network(cs->cfg, net);
  if (!tls)
    return tls.error();
  cs->tls = tls.value();
  if (cs->tls && !tls_error_queue_guard_active())
    std::fprintf(stderr, "pyactor: warning: libssl's SSL_read comes before pyactor's wrapper in this "
                         "process (link libpyactor before libssl): a TLS peer that hangs up without "
                         "close_notify can make healthy TLS connections drop\n");
  try {
    cs->sys = std::make_unique<caf::actor_system>(cs->cfg);
  } catch (std::exception& e) {
    return make_error(errc::bad_request, std::string{"cannot start the network layer: "} + e.what());
  }
  return cs;
}

pool_handles pool_access::handles(runtime& rt) {
  pool_handles h;
  h.system = rt.impl_->sys.get();
  auto ends = rt.impl_->ends();
  h.scheduler = ends->scheduler;
  h.supervisor = ends->supervisor;
  auto* impl = rt.impl_.get();
  h.submit = [impl](actors::call_request&& request, actors::reply_sink&& sink) {
    auto e = impl->ends();
    if (!e) {
      sink.completion->deliver(
        actors::make_error_reply(errc::node_down, "the node is stopping: its pool is shut down"));
      return;
    }
    // A worker's lane takes it on this thread when it can (no actor hop),
    // as for the runtime's own callers; else the scheduler routes it.
    if (auto target = impl->direct_target(request))
      if (target->lane && target->lane->try_call(request, sink))
        return;
    caf::anon_send(e->scheduler, actors::call_atom_v, std::move(request), std::move(sink));
  };
  auto supervisor = h.supervisor;
  h.bridge = h.system->spawn([supervisor](caf::event_based_actor* self) -> caf::behavior {
    // Every question ends in exactly one pool_event to `reply_to`.
    auto answer = [](const caf::actor& reply_to, uint64_t id, pool_event::kind_type kind,
                     std::vector<actors::worker_status> workers, std::vector<uint64_t> ids) {
      pool_event ev;
      ev.id = id;
      ev.kind = kind;
      ev.workers = std::move(workers);
      ev.worker_ids = std::move(ids);
      caf::anon_send(reply_to, std::move(ev));
    };
    constexpr auto wait = std::chrono::seconds(10);
    return {
      [=](actors::status_atom, uint64_t id, const caf::actor& reply_to) {
        self->request(supervisor, wait, actors::status_atom_v)
          .then(
            [=](std::vector<actors::worker_status>& workers) {
              answer(reply_to, id, pool_event::status, std::move(workers), {});
            },
            [=](caf::error&) { answer(reply_to, id, pool_event::status, {}, {}); });
      },
      [=](actors::history_atom, uint64_t id, const caf::actor& reply_to) {
        auto send = [=](std::vector<actors::restart_record> records) {
          pool_event ev;
          ev.id = id;
          ev.kind = pool_event::history;
          ev.restarts = std::move(records);
          caf::anon_send(reply_to, std::move(ev));
        };
        self->request(supervisor, wait, actors::history_atom_v)
          .then([=](std::vector<actors::restart_record>& records) { send(std::move(records)); },
                [=](caf::error&) { send({}); });
      },
      [=](actors::grow_atom, uint32_t n, uint64_t id, const caf::actor& reply_to) {
        // The new ids once they are ready or given up, as runtime::add_workers.
        self->request(supervisor, wait, actors::grow_atom_v, n)
          .then(
            [=](std::vector<uint64_t>& ids) {
              self->request(supervisor, std::chrono::minutes(2), actors::ready_atom_v)
                .then([=](std::string&) { answer(reply_to, id, pool_event::ids, {}, ids); },
                      [=](caf::error&) { answer(reply_to, id, pool_event::ids, {}, ids); });
            },
            [=](caf::error&) { answer(reply_to, id, pool_event::ids, {}, {}); });
      },
      [=](actors::shrink_atom, std::vector<uint64_t>& slots, uint64_t id,
          const caf::actor& reply_to) {
        // Answers once the workers finished their calls and are gone.
        self->request(supervisor, caf::infinite, actors::shrink_atom_v, std::move(slots))
          .then([=](std::vector<uint64_t>& ids) { answer(reply_to, id, pool_event::ids, {}, ids); },
                [=](caf::error&) { answer(reply_to, id, pool_event::ids, {}, {}); });
      },
    };
  });
  return h;
}

void pool_access::stop_bridge(pool_handles& h) {
  if (!h.bridge)
    return;
  caf::scoped_actor self{*h.system};
  self->send_exit(h.bridge, caf::exit_reason::user_shutdown);
  self->wait_for(h.bridge);
  h.bridge = nullptr;
}

// -- endpoints and TLS options ---------------------------------------------------------

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

result<endpoint> parse_endpoint(const std::string& text, bool allow_any_port) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::bad_request, "'" + text + "' is not ADDR:PORT: " + why);
  };
  endpoint ep;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("an IPv6 address is written [ADDR]:PORT");
    ep.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return bad("no ':PORT'");
    ep.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (ep.host.find(':') != std::string::npos)
      return bad("an IPv6 address is written [ADDR]:PORT");
  }
  if (ep.host.empty())
    return bad("the address is empty");
  if (port_text.empty() || port_text.size() > 5
      || port_text.find_first_not_of("0123456789") != std::string::npos)
    return bad("the port must be a number from 1 to 65535");
  auto port = std::stoul(port_text);
  if (port > 65535 || (port == 0 && !allow_any_port))
    return bad("the port must be a number from 1 to 65535");
  ep.port = static_cast<uint16_t>(port);
  return ep;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

result<bool> tls_options::validate() const {
  int given = !ca.empty() + !cert.empty() + !key.empty();
  if (given == 0)
    return true;
  if (given != 3)
    return make_error(errc::bad_request,
                      "TLS needs all of --ca, --cert and --key (got "
                        + std::string{ca.empty() ? "" : "--ca "} + (cert.empty() ? "" : "--cert ")
                        + (key.empty() ? "" : "--key") + ")");
  for (auto* f : {&ca, &cert, &key}) {
    std::ifstream in{*f};
    if (!in)
      return make_error(errc::bad_request, "cannot read TLS file '" + *f + "'");
  }
  return true;
}

} // namespace pyactor::cluster
