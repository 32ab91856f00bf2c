// The cluster commands: `head`, `node`, and call/eval/broadcast/status with
// `--connect ADDR:PORT` against a running head.
#include <ctime>
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "pyactor/cluster.hpp"

namespace pyactor::cli {

namespace {

const char* head_help =
  "usage: pyactor head --listen ADDR:PORT [--workers N] [--config FILE]\n"
  "                    [--ca FILE --cert FILE --key FILE | --insecure]\n"
  "  Runs the cluster's head in the foreground: nodes join it, clients call it\n"
  "  (--connect). --workers N local workers (default 0: none). SIGTERM, SIGINT\n"
  "  or SIGHUP (unless ignored, as under nohup) stop it.\n"
  "  A non-loopback ADDR needs mutual TLS (pyactor certs) or --insecure.\n";

const char* node_help =
  "usage: pyactor node --join ADDR:PORT [--workers N] [--name NAME] [--config FILE]\n"
  "                    [--listen ADDR:PORT] [--ca FILE --cert FILE --key FILE | --insecure]\n"
  "  Runs a worker node in the foreground and registers it with the head; when the\n"
  "  head is lost it retries (1 s doubling to 30 s) while its workers keep running.\n"
  "  Connected clients send calls straight to the node: it listens on --listen\n"
  "  (default: 127.0.0.1 when the head is on loopback, else every address; port 0 =\n"
  "  any free port). A non-loopback ADDR needs mutual TLS or --insecure. SIGTERM,\n"
  "  SIGINT or SIGHUP (a dead ssh session; not under nohup) stop it and its workers.\n";

cluster::network_options network_of(const invocation& inv) {
  cluster::network_options net;
  net.tls = inv.tls;
  return net;
}

bool endpoint_of(const std::string& flag, const std::string& text, const char* help,
                 cluster::endpoint& out, int& code) {
  if (text.empty()) {
    code = usage_error(flag + " ADDR:PORT is required", help);
    return false;
  }
  auto ep = cluster::parse_endpoint(text);
  if (!ep) {
    code = usage_error(flag + ": " + ep.error().message, help);
    return false;
  }
  out = ep.value();
  return true;
}

std::string local_time(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

} // namespace

int print_cluster_status(cluster::client& c) {
  auto nodes = c.status();
  if (!nodes) {
    std::cerr << "pyactor: " << nodes.error().to_string() << "\n";
    return call_failed;
  }
  std::cout << std::left << std::setw(16) << "node" << std::setw(24) << "address" << std::setw(7)
            << "state" << std::setw(21) << "since" << "pid\n";
  for (auto& n : nodes.value())
    std::cout << std::setw(16) << n.name << std::setw(24) << n.address << std::setw(7) << n.state
              << std::setw(21) << local_time(n.since) << n.pid
              << (n.note.empty() ? "" : "  " + n.note) << "\n";
  std::cout << "\n"
            << std::setw(16) << "node" << std::setw(4) << "id" << std::setw(9) << "pid"
            << std::setw(11) << "state" << std::setw(8) << "served" << std::setw(10)
            << "in-flight" << std::setw(10) << "restarts" << "rss\n";
  for (auto& n : nodes.value())
    for (auto& w : n.workers)
      std::cout << std::setw(16) << n.name << std::setw(4) << w.id << std::setw(9) << w.pid
                << std::setw(11) << w.state << std::setw(8) << w.served << std::setw(10)
                << w.in_flight << std::setw(10) << w.restarts << (w.rss_bytes >> 20) << " MiB\n";
  if (auto restarts = c.restarts())
    for (auto& r : restarts.value())
      std::cout << "restart of worker " << r.worker << " on node " << r.node
                << (r.given_up ? " (given up): " : ": ") << r.reason << "\n";
  return ok;
}

int run_head(const invocation& inv) {
  if (wants_help(inv, head_help))
    return ok;
  if (!inv.args.empty())
    return usage_error("head takes no arguments, got '" + inv.args.front() + "'", head_help);
  cluster::head_options opts;
  int code = usage;
  if (!endpoint_of("--listen", inv.listen, head_help, opts.listen, code))
    return code;
  opts.workers = inv.workers_flag < 0 ? 0 : static_cast<uint32_t>(inv.workers_flag);
  opts.pool = inv.options;
  opts.net = network_of(inv);
  return cluster::run_head(opts);
}

int run_node(const invocation& inv) {
  if (wants_help(inv, node_help))
    return ok;
  if (!inv.args.empty())
    return usage_error("node takes no arguments, got '" + inv.args.front() + "'", node_help);
  if (inv.workers_flag == 0)
    return usage_error("a node needs at least one worker: --workers 1 to 1024", node_help);
  cluster::node_options opts;
  int code = usage;
  if (!endpoint_of("--join", inv.join, node_help, opts.head, code))
    return code;
  opts.name = inv.name;
  if (!inv.listen.empty()) {
    auto ep = cluster::parse_endpoint(inv.listen, true);
    if (!ep)
      return usage_error("--listen: " + ep.error().message, node_help);
    opts.listen = ep.value();
  }
  opts.pool = inv.options;
  opts.net = network_of(inv);
  return cluster::run_node(opts);
}

std::unique_ptr<runtime> connect_runtime(const invocation& inv) {
  cluster::connect_options opts;
  opts.net = network_of(inv);
  opts.default_timeout = inv.options.default_timeout;
  auto rt = runtime::connect(inv.connect, opts);
  if (!rt) {
    std::cerr << "pyactor: --connect " << inv.connect << ": " << rt.error().to_string() << "\n";
    return nullptr;
  }
  return std::move(rt).value();
}

int run_remote(const invocation& inv) {
  const char* help = "usage: pyactor --connect ADDR:PORT call|eval|broadcast|map|status ...\n"
                     "  (broadcast --node NAME: only that node's workers)\n";
  if (inv.command == "map")
    return run_map(inv);
  if (inv.command == "bridge")
    return run_bridge(inv);
  if (wants_help(inv, help))
    return ok;
  cluster::endpoint head;
  int code = usage;
  if (!endpoint_of("--connect", inv.connect, help, head, code))
    return code;
  call_spec spec;
  if (inv.command == "call" || inv.command == "broadcast") {
    if (!read_call_spec(inv, inv.command.c_str(), "math.pow", help, spec))
      return usage;
  } else if (inv.command == "eval") {
    if (inv.args.size() != 1)
      return usage_error("eval expects exactly one expression (quote it), got "
                           + std::to_string(inv.args.size()) + " arguments",
                         help);
  } else if (inv.command == "status") {
    if (!inv.args.empty())
      return usage_error("status takes no arguments", help);
  } else {
    return usage_error("--connect works with call, eval, broadcast, map and status, not '"
                         + inv.command + "'",
                       help);
  }
  auto c = cluster::client::connect(head, network_of(inv));
  if (!c) {
    std::cerr << "pyactor: " << c.error().to_string() << "\n";
    return call_failed;
  }
  auto& client = *c.value();
  if (inv.command == "call")
    return print_result(client.call(spec.module, spec.function, spec.args, spec.kwargs));
  if (inv.command == "eval")
    return print_result(client.eval(inv.args.front()));
  if (inv.command == "status")
    return print_cluster_status(client);
  auto replies = client.broadcast(spec.module, spec.function, spec.args, spec.kwargs, inv.node);
  int result = ok;
  for (auto& r : replies) {
    if (r.reply) {
      std::cout << r.node << "/" << r.worker << ": " << r.reply.value().to_string() << "\n";
    } else {
      std::cout << r.node << "/" << r.worker << ": error " << r.reply.error().to_string() << "\n";
      result = call_failed;
    }
  }
  if (replies.empty()) {
    std::cerr << "pyactor: no ready worker in the cluster\n";
    result = call_failed;
  }
  return result;
}

} // namespace pyactor::cli
