// The `pyactor` command line: shared declarations of its commands.
#pragma once

#include <string>
#include <vector>

#include "pyactor/pyactor.hpp"

namespace pyactor::cli {

/// Exit codes: 0 success, 1 the call failed, 2 bad usage or config.
enum exit_code : int { ok = 0, call_failed = 1, usage = 2 };

/// What the command line asked for, after the global options.
struct invocation {
  std::string command;
  std::vector<std::string> args; // positional arguments of the command
  std::vector<std::string> kwargs; // --kw NAME=VALUE, as given
  runtime_options options;
};

/// Prints `r` (value on stdout, error on stderr); returns the exit code.
int print_result(const result<value>& r);

/// Starts a runtime or prints why it could not; nullptr on failure.
std::unique_ptr<runtime> start_runtime(const runtime_options& options);

int run_tour(const invocation& inv);
int run_call(const invocation& inv);
int run_eval(const invocation& inv);
int run_versions(const invocation& inv);
int run_status(const invocation& inv);

} // namespace pyactor::cli
