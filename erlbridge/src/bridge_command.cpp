#include "pyactor/erlbridge/bridge_command.hpp"

#include <csignal>
#include <cstdio>
#include <iostream>

#include <malloc.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "pyactor/erlbridge/gateway.hpp"
#include "pyactor/runtime.hpp"
#include "runtime_service.hpp"

namespace pyactor::erlbridge {

const char* bridge_help =
  R"(usage: pyactor bridge [--sname NAME | --name NAME@HOST] [--cookie C | --cookie-file F]
                      [--listen ADDR] [--handshake-timeout MS] [--workers N]
                      [--config FILE]

Serves the pool to Erlang and Elixir as a C-node with the registered name `py`:
  gen_server:call({py, 'NAME@HOST'}, {func, math, sqrt, [2.0], [], #{}})
or, with the `pyactor` rebar3 application, py:func(math, sqrt, [2.0]).

  --sname NAME       short node name (default: pyactor@<short host name>)
  --name NAME@HOST   long node name (HOST an FQDN or IP, as with erl -name)
  --cookie C         the Erlang cookie
  --cookie-file F    read the cookie from F (default: $PYACTOR_COOKIE, then
                     ~/.erlang.cookie)
  --listen ADDR      address of the distribution port (default 127.0.0.1)
  --handshake-timeout MS
                     how long one connection's distribution handshake may
                     take (default 5000); handshakes run side by side, so a
                     stalled peer delays no other connection
  --exit-with-stdin  stop when stdin closes (run as an Erlang port program)

Starts `epmd -daemon` on loopback if no epmd runs. Prints `ready NODE` on
stdout once it serves. SIGTERM or SIGINT stops it cleanly.
)";

namespace {

int usage(const std::string& message) {
  std::cerr << "pyactor bridge: " << message << "\n\n" << bridge_help;
  return 2;
}

} // namespace

int run_bridge_command(const std::vector<std::string>& args, runtime_options options,
                       std::function<result<std::unique_ptr<runtime>>()> make_runtime) {
  gateway_options gw;
  bool named = false;
  for (size_t i = 0; i < args.size(); ++i) {
    auto& a = args[i];
    auto next = [&](std::string& out) {
      if (i + 1 >= args.size())
        return false;
      out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::cout << bridge_help;
      return 0;
    } else if (a == "--sname" || a == "--name") {
      if (named)
        return usage("give one of --sname and --name, once");
      if (!next(v) || v.empty())
        return usage(a + " expects a node name");
      named = true;
      gw.long_names = a == "--name";
      auto at = v.find('@');
      if (gw.long_names && (at == std::string::npos || at == 0 || at + 1 == v.size()))
        return usage("--name expects NAME@HOST (an FQDN or IP address), got '" + v + "'");
      gw.alive = v.substr(0, at);
      if (at != std::string::npos)
        gw.host = v.substr(at + 1);
    } else if (a == "--cookie") {
      if (!next(gw.cookie) || gw.cookie.empty())
        return usage("--cookie expects the cookie");
    } else if (a == "--cookie-file") {
      if (!next(gw.cookie_file) || gw.cookie_file.empty())
        return usage("--cookie-file expects a file name");
    } else if (a == "--listen") {
      if (!next(gw.listen_address))
        return usage("--listen expects an IPv4 address");
    } else if (a == "--handshake-timeout") {
      if (!next(v) || v.empty() || v.find_first_not_of("0123456789") != std::string::npos
          || v.size() > 9 || std::stol(v) == 0)
        return usage("--handshake-timeout expects milliseconds (1 to 999999999), got '" + v
                     + "'");
      gw.handshake_timeout = std::chrono::milliseconds{std::stol(v)};
    } else if (a == "--exit-with-stdin") {
      gw.exit_with_stdin = true;
    } else {
      return usage("unknown argument '" + a + "'");
    }
  }
  if (!gw.cookie.empty() && !gw.cookie_file.empty())
    return usage("give one of --cookie and --cookie-file");
  // Large terms (a 1 MiB binary is copied a few times on its way) from
  // reused heap pages, not fresh mmaps that fault in page by page.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
  // SIGTERM/SIGINT arrive on a signalfd polled by the loop; every thread
  // started from here on inherits the blocked mask (workers reset it).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto sfd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
  gw.stop_fd = sfd;
  auto rt = make_runtime ? make_runtime() : runtime::start(options);
  if (!rt) {
    std::cerr << "pyactor bridge: cannot " << (make_runtime ? "connect" : "start the pool") << ": " << rt.error().to_string() << "\n";
    return 1;
  }
  // Teardown order: the service (its admin thread uses the runtime), the
  // runtime (its last callbacks still post to the gateway), the gateway.
  int code = 0;
  std::unique_ptr<gateway> node;
  {
    auto service = std::make_unique<runtime_service>(*rt.value());
    auto started = gateway::start(gw, *service);
    if (!started) {
      std::cerr << "pyactor bridge: " << started.error().message << "\n";
      code = 1;
    } else {
      node = std::move(started.value());
      std::cerr << "pyactor bridge: serving " << rt.value()->size() << " workers as "
                << node->node_name() << " (port " << node->port() << ")\n";
      std::cout << "ready " << node->node_name() << std::endl;
      node->run();
    }
    service.reset();
  }
  rt.value().reset();
  node.reset();
  if (sfd >= 0)
    ::close(sfd);
  return code;
}

} // namespace pyactor::erlbridge
