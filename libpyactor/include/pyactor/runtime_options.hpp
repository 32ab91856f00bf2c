// Everything a pyactor runtime can be told, with the defaults of the
// embedded default (one local node, one worker per core, no network port).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pyactor/error.hpp"

namespace pyactor {

struct runtime_options {
  /// Worker processes, 0 to 1024; 0 means one per core (also on the CLI).
  uint32_t workers = 0;
  /// The `pyactor-worker` binary; empty means beside the running executable,
  /// else $PYACTOR_WORKER.
  std::string worker_executable;
  /// The Python executable the workers run (a virtualenv's `bin/python`
  /// makes its packages importable in every worker); empty means the one
  /// pyactor was built with (/usr/bin/python3). It must be the same
  /// major.minor version: runtime::start checks it once and fails with the
  /// path and the version found.
  std::string python;
  /// Directories put ahead of sys.path in every worker. The directory of the
  /// `pyactor` Python package is always added.
  std::vector<std::string> python_path;
  /// Deadline of a call that sets none (finite by default).
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};
  /// Time between SIGINT and SIGKILL for a running call past its deadline.
  std::chrono::milliseconds interrupt_grace{std::chrono::seconds(2)};
  /// A worker not ready this long after it was spawned (imports, start hook)
  /// is killed and its start fails, saying so.
  std::chrono::milliseconds start_timeout{std::chrono::seconds(60)};
  /// A worker may restart this many times within `restart_window`; one more
  /// death and its slot is given up. A ready worker that dies running a call
  /// is not counted (the call failed with `worker_crashed` and bears it).
  uint32_t max_restarts = 5;
  std::chrono::milliseconds restart_window{std::chrono::seconds(10)};
  /// "least-loaded", "round-robin", "random" or "affinity" (the same
  /// function on the same worker).
  std::string policy = "least-loaded";
  /// Live object references one worker may hold.
  uint64_t max_objects = 100000;
  /// The uid of the pool's first worker incarnation (0 or 1: from 1). A
  /// cluster node gives its pool a range of its own, so that an object
  /// reference names the node that holds it; not a config key.
  uint64_t first_worker_uid = 0;
  /// CAF scheduler threads; 0 means max(2, cores).
  uint32_t threads = 0;
  /// Calls written to one worker process at once (pipelining); the rest
  /// wait in its actor. Deeper pipelines raise throughput (bench/RESULTS.md).
  /// When the process dies, only the call it was running fails, at any
  /// depth; the others move to another worker.
  uint32_t pipeline_depth = 64;
  /// Replace a worker process after this many calls (against leaks); 0: never.
  uint64_t max_calls_per_worker = 0;
  /// Extra environment variables of every worker process.
  std::vector<std::pair<std::string, std::string>> env;
  /// Working directory of every worker process; empty: the caller's.
  std::string cwd;
  /// Modules every worker imports at every (re)start, before it serves.
  std::vector<std::string> imports;
  /// "module.function" every worker calls (no arguments) at every (re)start,
  /// after `imports`. A hook that raises fails the start (and counts as a
  /// restart): the slot is given up after max-restarts.
  std::string start_hook;
  /// Where worker output and runtime diagnostics go, a line at a time
  /// (thread-safe); empty means stderr.
  std::function<void(const std::string&)> log;

  /// Reads an INI file (section `[pyactor]`, keys as in config/default.ini)
  /// over the defaults. Unknown keys, wrong types and out-of-range values are
  /// errors naming the key, the value and what was expected.
  static result<runtime_options> from_file(const std::string& path);

  /// Checks ranges; returns an error naming the first bad field.
  result<bool> validate() const;
};

} // namespace pyactor
