// The `pyactor` command line: shared declarations of its commands.
#pragma once

#include <string>
#include <vector>

#include "pyactor/cluster.hpp"
#include "pyactor/pyactor.hpp"

namespace pyactor::cli {

/// Exit codes: 0 success, 1 the call failed, 2 bad usage or config.
enum exit_code : int { ok = 0, call_failed = 1, usage = 2 };

/// What the command line asked for, after the global options.
struct invocation {
  std::string command;
  std::vector<std::string> args; // what follows the command, its own options included
  /// args[i] for i >= operands_from came after `--`: operands, never options.
  size_t operands_from = static_cast<size_t>(-1);
  runtime_options options;
  /// --workers as given: -1 when absent (0 is only valid for `head`).
  long workers_flag = -1;
  // Cluster options (cluster_commands.cpp).
  std::string connect; ///< --connect ADDR:PORT: run against a running head
  std::string listen;  ///< head --listen
  std::string join;    ///< node --join
  std::string name;    ///< node --name
  std::string node;    ///< broadcast --node: only this node's workers
  cluster::tls_options tls;
};

/// Prints `r` (value on stdout, error on stderr); returns the exit code.
int print_result(const result<value>& r);

/// Starts a runtime or prints why it could not; nullptr on failure.
std::unique_ptr<runtime> start_runtime(const runtime_options& options);

int run_tour(const invocation& inv);
int run_call(const invocation& inv);
int run_eval(const invocation& inv);
int run_broadcast(const invocation& inv);
int run_map(const invocation& inv);

/// Prints `text` and returns true if the command's options (before `--`) ask for --help.
bool wants_help(const invocation& inv, const char* text);

/// Prints a usage problem and the command's help; returns the usage exit code.
int usage_error(const std::string& message, const char* text);

/// Splits "MODULE.FUNC" at the first dot; false if either side is empty.
bool split_target(const std::string& target, std::string& module, std::string& function);

/// What `call` and `broadcast` call: MODULE.FUNC, literals, `--kw NAME=VALUE`.
struct call_spec {
  std::string module;
  std::string function;
  list args;
  dict kwargs;
};

/// Reads a call_spec from the command's arguments. Returns true, or prints
/// the problem with `help` and returns false (exit with `usage` then).
bool read_call_spec(const invocation& inv, const char* command, const char* example,
                    const char* help, call_spec& spec);
int run_versions(const invocation& inv);
int run_status(const invocation& inv);
int run_etf(const invocation& inv);
/// `pyactor bridge`: serves the pool to Erlang (erlbridge/).
int run_bridge(const invocation& inv);
int run_head(const invocation& inv);
int run_node(const invocation& inv);
/// Connects a runtime to the head at `inv.connect` (with its TLS options)
/// or prints why it could not; nullptr on failure.
std::unique_ptr<runtime> connect_runtime(const invocation& inv);
/// call, eval, broadcast, map and status against the head at `inv.connect`.
int run_remote(const invocation& inv);
/// `certs DIR NAME...`: a test CA and per-name certificates.
int run_certs(const invocation& inv);

/// Prints the node and worker tables of a running cluster (`status --connect`).
int print_cluster_status(cluster::client& c);
/// `up CONFIG [--detach]` and `down CONFIG` (up_command.cpp).
int run_up(const invocation& inv);
int run_down(const invocation& inv);

} // namespace pyactor::cli
