// `pyactor bridge`: the gateway as a command.
#pragma once

#include <string>
#include <functional>
#include <memory>
#include <vector>

#include "pyactor/runtime.hpp"
#include "pyactor/runtime_options.hpp"

namespace pyactor::erlbridge {

/// The help text of `pyactor bridge`.
extern const char* bridge_help;

/// Runs `pyactor bridge ARGS...` with the pool `options` (from --workers and
/// --config); returns the exit code (0 after a clean stop, 1 when the pool or
/// node cannot start, 2 on bad usage). Stops cleanly on SIGTERM and SIGINT.
/// `make_runtime`, when given, makes the runtime instead of
/// `runtime::start(options)` (`pyactor --connect HEAD bridge`: a runtime
/// connected to a cluster).
int run_bridge_command(
  const std::vector<std::string>& args, runtime_options options,
  std::function<result<std::unique_ptr<runtime>>()> make_runtime = {});

} // namespace pyactor::erlbridge
