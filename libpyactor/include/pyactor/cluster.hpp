// The cluster: a head with its own pool, worker nodes that join it, and a
// client that calls into a running cluster (design.md "Cluster roles").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/runtime.hpp"
#include "pyactor/runtime_options.hpp"
#include "pyactor/value.hpp"

namespace pyactor::cluster {

/// `host:port` of a head or node; `[v6addr]:port` for IPv6.
struct endpoint {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const;
};

/// Parses "ADDR:PORT" (port 1-65535, or 0 when `allow_any_port`); the error
/// names the text and what was expected.
result<endpoint> parse_endpoint(const std::string& text, bool allow_any_port = false);

/// True for 127.0.0.0/8, ::1 and "localhost": addresses no other host reaches.
bool is_loopback(const std::string& host);

/// Mutual TLS with CAF's openssl module: every peer needs a certificate
/// signed by `ca`. All three files or none.
struct tls_options {
  std::string ca;
  std::string cert;
  std::string key;
  /// Allows plaintext on a non-loopback address (with a warning).
  bool insecure = false;

  bool enabled() const { return !ca.empty(); }
  /// Checks that the three files are given together and readable.
  result<bool> validate() const;
};

/// Failure detection between head, nodes and clients (BASP heartbeats).
struct network_options {
  std::chrono::milliseconds heartbeat{250};
  /// A peer silent this long is dropped: its calls get `node_down`. Zero
  /// picks the default, 1 s (with TLS too: CAF 0.17's openssl module stalls
  /// the network thread during each incoming handshake, for tens of ms).
  std::chrono::milliseconds connection_timeout{0};
  tls_options tls;
};

/// `pyactor head`.
struct head_options {
  endpoint listen;
  /// Local workers of the head; 0 for none.
  uint32_t workers = 0;
  runtime_options pool;
  network_options net;
};

/// `pyactor node`.
struct node_options {
  endpoint head;
  /// Defaults to "<hostname>-<pid>".
  std::string name;
  runtime_options pool;
  network_options net;
  /// First retry delay after losing the head; doubles up to `max_backoff`.
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  /// Where the node listens for clients that call it directly (connected
  /// runtimes send calls straight to the node that runs them). An empty
  /// host picks 127.0.0.1 when the head is on loopback, otherwise every
  /// address (0.0.0.0), advertised as the address the head sees the node
  /// at; port 0 picks a free port. The TLS rules of the head apply.
  endpoint listen;
};

/// Runs a head in the foreground until SIGTERM, SIGINT or SIGHUP; returns the
/// exit code. Logs to stderr. Block those signals before any thread starts
/// (`block_stop_signals`).
int run_head(const head_options& options);

/// Runs a node in the foreground until SIGTERM, SIGINT or SIGHUP; returns the
/// exit code.
int run_node(const node_options& options);

/// Blocks SIGTERM, SIGINT and SIGHUP (not SIGHUP if it is ignored, as under
/// `nohup`) in the calling thread, and so in every thread started after, for
/// `run_head` and `run_node` to wait on them.
void block_stop_signals();

/// One node of the cluster (see pyactor::node_info).
using pyactor::node_info;

/// `runtime::connect`.
struct connect_options {
  network_options net;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  /// Deadline of a call that sets none.
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};
  /// Where the runtime logs (callback exceptions); empty: stderr.
  std::function<void(const std::string&)> log;
};

/// The reply of one worker to a broadcast.
struct node_worker_reply {
  std::string node;
  uint64_t worker = 0;
  result<value> reply;
};

/// A connection to a running head. Blocking; use it from one thread and
/// destroy it on that thread (it owns an actor system used through
/// blocking requests on the calling thread). Every call has a timeout: a
/// call gets its result or a typed error (`node_down` when the node running
/// it is lost) and never hangs.
class client {
public:
  /// Connects to the head at `head`; fails within `connect_timeout`.
  static result<std::unique_ptr<client>>
  connect(const endpoint& head, const network_options& net,
          std::chrono::milliseconds connect_timeout = std::chrono::seconds(10));

  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// `module.function(*args, **kwargs)` on a worker the head picks.
  result<value> call(const std::string& module, const std::string& function, list args = {},
                     dict kwargs = {}, const call_options& opts = {});
  /// Evaluates a Python expression on a worker the head picks.
  result<value> eval(const std::string& expression, const call_options& opts = {});
  /// The same call on every ready worker of every node (or of `node` only).
  std::vector<node_worker_reply> broadcast(const std::string& module, const std::string& function,
                                           list args = {}, dict kwargs = {},
                                           const std::string& node = {},
                                           const call_options& opts = {});
  /// Every node, up or lost, with its workers.
  result<std::vector<node_info>> status();
  /// The recent restarts and give-ups of every node that is up, each with
  /// its node and the worker's id on that node.
  result<std::vector<restart_info>> restarts();

  struct impl;

private:
  explicit client(std::unique_ptr<impl> pimpl);
  std::unique_ptr<impl> impl_;
};

} // namespace pyactor::cluster
