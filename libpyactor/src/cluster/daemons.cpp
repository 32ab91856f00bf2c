// `pyactor head` and `pyactor node`: long-running processes in the foreground.
#include <csignal>
#include <cstdio>
#include <mutex>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>

#include "cluster/cluster_system.hpp"
#include "cluster/head_actor.hpp"
#include "cluster/joiner_actor.hpp"
#include "cluster/node_manager_actor.hpp"
#include "pyactor/cluster.hpp"

namespace pyactor::cluster {

namespace {

void log_line(const std::string& line) {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

/// SIGTERM, SIGINT, and SIGHUP unless the process was started with SIGHUP
/// ignored (`nohup`): a node started through `ssh -tt` gets SIGHUP when its
/// ssh connection dies, and then stops like on SIGTERM. Read before any
/// signal is blocked, so it sees the disposition the process inherited.
const sigset_t& stop_signals() {
  static const sigset_t set = [] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    struct sigaction hup {};
    if (::sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN)
      sigaddset(&s, SIGHUP);
    return s;
  }();
  return set;
}

/// Waits for one of `stop_signals` (blocked by `block_stop_signals`).
int wait_for_stop() {
  int sig = 0;
  sigwait(&stop_signals(), &sig);
  return sig;
}

const char* stop_signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP (hang-up)";
    default:
      return "SIGTERM";
  }
}

/// Refuses plaintext on an address other hosts can reach, unless insecure.
bool tls_policy_ok(const std::string& role, const std::string& host, const tls_options& tls) {
  if (tls.enabled() || is_loopback(host))
    return true;
  if (tls.insecure) {
    log_line("[" + role + "] WARNING: --insecure: plaintext on " + host
             + ": anyone who can reach it can run any Python code on this cluster's workers");
    return true;
  }
  log_line("pyactor " + role + ": " + host
           + " is not a loopback address, so TLS is required: give --ca, --cert and --key "
             "(make test files with `pyactor certs DIR head NODE...`), or --insecure to "
             "accept plaintext");
  return false;
}

std::unique_ptr<runtime> start_pool(runtime_options pool, const std::string& role) {
  if (!pool.log)
    pool.log = log_line;
  auto rt = runtime::start(pool);
  if (!rt) {
    log_line("pyactor " + role + ": cannot start the pool: " + rt.error().to_string());
    return nullptr;
  }
  return std::move(rt).value();
}

/// Stops the cluster actors and waits until they are gone, before the pool
/// they talk to is destroyed.
void stop_actors(caf::actor_system& sys, std::vector<caf::actor> actors) {
  caf::scoped_actor self{sys};
  for (auto& a : actors)
    if (a) {
      self->send_exit(a, caf::exit_reason::user_shutdown);
      self->wait_for(a);
    }
}

} // namespace

void block_stop_signals() {
  pthread_sigmask(SIG_BLOCK, &stop_signals(), nullptr);
}

int run_head(const head_options& options) {
  if (!tls_policy_ok("head", options.listen.host, options.net.tls))
    return 2;
  std::unique_ptr<runtime> pool;
  auto uid_tag = make_uid_tag();
  if (options.workers > 0) {
    auto p = options.pool;
    p.workers = options.workers;
    p.first_worker_uid = (uid_tag << uid_tag_shift) | 1;
    pool = start_pool(p, "head");
    if (!pool)
      return 2;
  }
  auto net = start_cluster_system(options.net);
  if (!net) {
    log_line("pyactor head: " + net.error().message);
    return 2;
  }
  auto& sys = *net.value()->sys;
  head_config hc;
  hc.default_timeout = options.pool.default_timeout;
  hc.grace = options.pool.interrupt_grace + std::chrono::seconds(3);
  hc.log = log_line;
  hc.keepalive = options.net.heartbeat;
  hc.local_uid_tag = uid_tag;
  node_actors local;
  pool_handles handles;
  if (pool) {
    handles = pool_access::handles(*pool);
    local = spawn_node_actors(sys, handles);
    hc.local = local.handle();
  }
  auto head = sys.spawn(head_behavior, hc);
  auto host = options.listen.host;
  auto published = net.value()->tls
                     ? caf::openssl::publish(head, options.listen.port, host.c_str(), true)
                     : sys.middleman().publish(head, options.listen.port, host.c_str(), true);
  int code = 0;
  if (!published) {
    log_line("pyactor head: cannot listen on " + options.listen.to_string() + ": "
             + sys.render(published.error()));
    code = 2;
  } else {
    log_line("[head] listening on " + host + ":" + std::to_string(*published) + " ("
             + (net.value()->tls ? "mutual TLS" : "plaintext") + "), "
             + std::to_string(options.workers) + " local workers; pid "
             + std::to_string(::getpid()));
    int sig = wait_for_stop();
    log_line(std::string{"[head] "} + stop_signal_name(sig) + ": stopping");
  }
  stop_actors(sys, {caf::actor_cast<caf::actor>(head), local.port,
                    caf::actor_cast<caf::actor>(local.manager)});
  head = nullptr;
  local = node_actors{};
  pool_access::stop_bridge(handles);
  pool.reset();        // stops the local workers
  net.value().reset(); // closes every connection: the nodes see the head go
  return code;
}

/// Publishes the node manager for clients (node_options::listen); sets
/// the host and port to advertise, or answers why it could not.
std::string listen_for_clients(caf::actor_system& sys, bool tls, const node_options& options,
                               const node_manager_actor& manager, std::string& advertised_host,
                               uint16_t& port) {
  auto bind = options.listen.host;
  if (bind.empty())
    bind = is_loopback(options.head.host) ? "127.0.0.1" : "0.0.0.0";
  advertised_host = bind == "0.0.0.0" || bind == "::" ? std::string{} : bind;
  auto published = tls ? caf::openssl::publish(manager, options.listen.port, bind.c_str(), true)
                       : sys.middleman().publish(manager, options.listen.port, bind.c_str(), true);
  if (!published)
    return "cannot listen for clients on " + endpoint{bind, options.listen.port}.to_string()
           + ": " + sys.render(published.error()) + " (choose another with --listen ADDR:PORT)";
  port = *published;
  return {};
}

int run_node(const node_options& options) {
  if (!tls_policy_ok("node", options.head.host, options.net.tls))
    return 2;
  if (!options.listen.host.empty() && !tls_policy_ok("node", options.listen.host, options.net.tls))
    return 2;
  auto name = options.name;
  if (name.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    name = std::string{host} + "-" + std::to_string(::getpid());
  }
  auto uid_tag = make_uid_tag();
  auto pool_options = options.pool;
  pool_options.first_worker_uid = (uid_tag << uid_tag_shift) | 1;
  auto pool = start_pool(pool_options, "node");
  if (!pool)
    return 2;
  auto net = start_cluster_system(options.net);
  if (!net) {
    log_line("pyactor node: " + net.error().message);
    return 2;
  }
  auto& sys = *net.value()->sys;
  auto handles = pool_access::handles(*pool);
  auto node = spawn_node_actors(sys, handles);
  auto manager = node.handle();
  std::string listen_host;
  uint16_t listen_port = 0;
  if (auto why = listen_for_clients(sys, net.value()->tls, options, manager, listen_host,
                                    listen_port);
      !why.empty()) {
    log_line("pyactor node: " + why);
    stop_actors(sys, {node.port, caf::actor_cast<caf::actor>(node.manager)});
    node = node_actors{};
    manager = nullptr;
    pool_access::stop_bridge(handles);
    return 2;
  }
  joiner_config jc;
  jc.listen_host = listen_host;
  jc.listen_port = listen_port;
  jc.host = options.head.host;
  jc.port = options.head.port;
  jc.name = name;
  jc.pid = ::getpid();
  jc.uid_tag = uid_tag;
  jc.tls = net.value()->tls;
  jc.manager = manager;
  jc.backoff = options.backoff;
  jc.max_backoff = options.max_backoff;
  jc.log = log_line;
  jc.keepalive = options.net.heartbeat;
  auto joiner = sys.spawn(joiner_behavior, jc);
  log_line("[node " + name + "] " + std::to_string(pool->size()) + " workers ready; joining "
           + options.head.to_string() + "; clients reach it on port " + std::to_string(listen_port)
           + (net.value()->tls ? " (mutual TLS)" : " (plaintext)") + "; pid "
           + std::to_string(::getpid()));
  int sig = wait_for_stop();
  log_line("[node " + name + "] " + stop_signal_name(sig) + ": stopping");
  stop_actors(sys, {caf::actor_cast<caf::actor>(joiner), node.port,
                    caf::actor_cast<caf::actor>(node.manager)});
  joiner = nullptr;
  node = node_actors{};
  manager = nullptr;
  pool_access::stop_bridge(handles);
  pool.reset();
  net.value().reset();
  return 0;
}

} // namespace pyactor::cluster
