// pyactor: the command line. Parses global options and dispatches a command.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "cli.hpp"
#include "install_layout.hpp"
#include "pyactor/cluster.hpp"

using namespace pyactor;

namespace {

const char* usage_text =
  R"(usage: pyactor [--workers N] [--python PATH] [--config FILE] COMMAND [ARGS...]

commands:
  run                          start the pool and run a short tour of pyactor
  call MODULE.FUNC [ARG...]    call a Python function; ARGs are JSON-like
       [--kw NAME=VALUE]...    literals (42, 1.5, "text", [1, 2], {"a": 1},
                               true, null, (1, 2)); bare words are strings
  broadcast MODULE.FUNC [ARG...]  the same call on every worker, a line each
  map MODULE.FUNC --from FILE|-   one call per input line (a JSON argument
       [--chunk N] [--as-completed]  list); results in order, or as they finish
  eval EXPR                    evaluate a Python expression in a worker
  versions                     Python and pyactor versions of a worker
  status                       the pool's workers, pids and counters
  etf decode|encode            an Erlang term (term_to_binary bytes) on stdin,
                               printed in Erlang syntax or re-encoded canonically
  bridge [--sname NAME] ...    serve the pool to Erlang/Elixir as a C-node
  head --listen ADDR:PORT      run a cluster head (see `pyactor head --help`)
  node --join ADDR:PORT        run a worker node that joins a head
       [--name NAME]
  certs DIR NAME...            a test CA and a TLS certificate per NAME
  up CONFIG [--detach]         start a head and the nodes of a config file
                               (config/cluster-local.ini); see `pyactor up --help`
  down CONFIG                  stop what `up CONFIG` started

options (before the command, or after it):
  --workers N      worker processes, 0 to 1024; 0 (the default) means one per core
                   (for `head`: no local workers)
  --python PATH    the Python executable of the workers, e.g. a venv's bin/python
                   (default: the one pyactor was built with, /usr/bin/python3)
  --config FILE    INI config file with a [pyactor] section (see config/default.ini)
  --connect ADDR:PORT  call, eval, broadcast [--node NAME], map [--retry], status
                   and bridge against a
                   running cluster's head instead of a local pool
  --ca FILE --cert FILE --key FILE  mutual TLS for head, node and --connect
  --insecure       allow plaintext on a non-loopback address (head, node)
  --help           this text
  --version        pyactor, CAF and Python versions, and where the worker is
  --               ends the options: every later word is an argument of the command
                   (pyactor call builtins.str -- -h)
)";

/// `pyactor --version`: the build's versions and the layout a runtime would use.
int print_version() {
  std::cout << build_versions_text();
  auto layout = find_install_layout({});
  if (!layout) {
    std::cout << "layout: " << layout.error().message << "\n";
    return cli::ok;
  }
  std::cout << "worker " << layout->worker_executable << "\npython package "
            << layout->python_dir << " (" << layout->origin << ")\n";
  return cli::ok;
}

int usage_error(const std::string& message) {
  std::cerr << "pyactor: " << message << "\n\n" << usage_text;
  return cli::usage;
}

} // namespace

int main(int argc, char** argv) {
  cli::invocation inv;
  std::string config_file;
  long workers = -1;
  std::string python;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next_value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--") { // the end of options: the rest are the command's operands
      if (inv.command.empty() && i + 1 < argc)
        inv.command = argv[++i];
      inv.operands_from = inv.args.size();
      for (++i; i < argc; ++i)
        inv.args.push_back(argv[i]);
      break;
    }
    if ((arg == "--help" || arg == "-h") && !inv.command.empty()) {
      inv.args.push_back("--help"); // the command prints its own help
    } else if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      return cli::ok;
    } else if (arg == "--version" && inv.command.empty()) {
      return print_version();
    } else if (arg == "--workers") {
      const char* v = next_value();
      char* end = nullptr;
      workers = v && *v != '\0' ? std::strtol(v, &end, 10) : -1;
      if (!v || *v == '\0' || *end != '\0' || workers < 0 || workers > 1024)
        return usage_error(std::string{"--workers expects an integer from 0 (one per core) to 1024 "
                                       "(0 for `head`: no local workers), got "}
                           + (v ? "'" + std::string{v} + "'" : "nothing"));
    } else if (arg == "--python") {
      const char* v = next_value();
      if (!v || *v == '\0')
        return usage_error("--python expects the path of a Python executable");
      python = v;
    } else if (arg == "--config") {
      const char* v = next_value();
      if (!v)
        return usage_error("--config expects a file name");
      config_file = v;
    } else if (arg == "--connect" || arg == "--listen" || arg == "--join" || arg == "--name"
               || arg == "--node" || arg == "--ca" || arg == "--cert" || arg == "--key") {
      const char* v = next_value();
      if (!v || *v == '\0')
        return usage_error(arg + " expects a value");
      std::string* field = arg == "--connect" ? &inv.connect
                           : arg == "--listen" ? &inv.listen
                           : arg == "--join"   ? &inv.join
                           : arg == "--name"   ? &inv.name
                           : arg == "--node"   ? &inv.node
                           : arg == "--ca"     ? &inv.tls.ca
                           : arg == "--cert"   ? &inv.tls.cert
                                               : &inv.tls.key;
      *field = v;
    } else if (arg == "--insecure") {
      inv.tls.insecure = true;
    } else if (arg.size() > 2 && arg.compare(0, 2, "--") == 0 && inv.command.empty()) {
      return usage_error("unknown option " + arg);
    } else if (inv.command.empty()) {
      inv.command = arg;
    } else {
      inv.args.push_back(arg);
    }
  }
  if (!config_file.empty()) {
    auto loaded = runtime_options::from_file(config_file);
    if (!loaded) {
      std::cerr << "pyactor: " << loaded.error().message << "\n";
      return cli::usage;
    }
    inv.options = loaded.value();
  }
  inv.workers_flag = workers;
  // As in a config file, 0 means one per core; a head with 0 runs no local workers.
  if (workers >= 0 && !(workers == 0 && inv.command == "head"))
    inv.options.workers = static_cast<uint32_t>(workers);
  if (!python.empty())
    inv.options.python = python;
  if (inv.command == "head" || inv.command == "node")
    cluster::block_stop_signals(); // before any thread starts: they wait with sigwait
  if (inv.command == "certs")
    return cli::run_certs(inv);
  if (inv.command == "head")
    return cli::run_head(inv);
  if (inv.command == "up")
    return cli::run_up(inv);
  if (inv.command == "down")
    return cli::run_down(inv);
  if (inv.command == "node")
    return cli::run_node(inv);
  if (!inv.connect.empty())
    return cli::run_remote(inv);
  if (inv.command == "run")
    return cli::run_tour(inv);
  if (inv.command == "call")
    return cli::run_call(inv);
  if (inv.command == "eval")
    return cli::run_eval(inv);
  if (inv.command == "broadcast")
    return cli::run_broadcast(inv);
  if (inv.command == "map")
    return cli::run_map(inv);
  if (inv.command == "versions")
    return cli::run_versions(inv);
  if (inv.command == "status")
    return cli::run_status(inv);
  if (inv.command == "etf")
    return cli::run_etf(inv);
  if (inv.command == "bridge")
    return cli::run_bridge(inv);
  if (inv.command == "help") {
    std::cout << usage_text;
    return cli::ok;
  }
  return usage_error(inv.command.empty() ? "no command given"
                                         : "unknown command '" + inv.command + "'");
}
