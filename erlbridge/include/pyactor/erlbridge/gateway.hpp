// The erlbridge transport: an Erlang C-node (erl_interface for the handshake,
// cookie check and frames only) serving the registered name `py`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pyactor/error.hpp"

namespace pyactor::erlbridge {

class python_service;

struct gateway_options {
  /// The node's alive part ("pyactor" in pyactor@host).
  std::string alive = "pyactor";
  /// The host part; empty takes the short host name (or, with long names,
  /// the listen address).
  std::string host;
  /// `-name` style (host is an FQDN or IP) instead of `-sname`.
  bool long_names = false;
  /// The cookie; empty reads `cookie_file`, then $PYACTOR_COOKIE, then
  /// ~/.erlang.cookie.
  std::string cookie;
  std::string cookie_file;
  /// Address the distribution port binds (loopback unless told otherwise).
  std::string listen_address = "127.0.0.1";
  /// How long an epmd request may take.
  std::chrono::milliseconds io_timeout{5000};
  /// How long one connection's handshake may take. Each runs on a thread
  /// of its own (at most 64 at once): a stalled one delays no other.
  std::chrono::milliseconds handshake_timeout{5000};
  /// A connected peer that sends nothing for this long (not even the tick an
  /// Erlang node sends every net_ticktime/4: 15 s by default, 300 s for the
  /// largest net_ticktime this allows) is disconnected, and its callers'
  /// calls cancelled.
  std::chrono::milliseconds peer_silence{305000};
  /// Stop when this fd becomes readable (e.g. a signalfd); -1: none.
  int stop_fd = -1;
  /// Stop when stdin reaches EOF (run as an Erlang port program).
  bool exit_with_stdin = false;
  /// Diagnostics, one line at a time; empty means stderr.
  std::function<void(const std::string&)> log;
};

/// A running C-node. Usage:
///   auto gw = gateway::start(opts, service);   // listens and registers with epmd
///   if (!gw) ...;                              // names what failed
///   gw.value()->run();                         // serves until stop() / stop_fd
/// `run` owns the poll loop; `stop` is the only other thread-safe member.
class gateway {
public:
  /// Creates the node (fresh creation number), listens, starts epmd if none
  /// runs, and publishes the node. Fails with a message naming what failed.
  static result<std::unique_ptr<gateway>> start(gateway_options opts, python_service& py);

  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Serves connections until stopped; then cancels every call in flight.
  void run();

  /// Makes `run` return soon. Thread-safe, async-signal-safe.
  void stop();

  /// The full node name, e.g. "pyactor@myhost".
  const std::string& node_name() const;

  /// The port the distribution listener is bound to.
  int port() const;

  struct impl;

private:
  explicit gateway(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace pyactor::erlbridge
