// What the pool knows about one worker: live counters and a status snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

namespace pyactor::actors {

/// Lifecycle of one worker slot.
enum class worker_state : uint8_t {
  starting = 0, ///< process spawned, ready frame not yet received
  ready = 1,    ///< serving calls
  failed = 2,   ///< restart limit reached: the slot is given up
  stopping = 3, ///< being removed: finishing its calls
};

/// Returns "starting", "ready", ...
const char* to_string(worker_state x);

/// Counters of one worker incarnation (one process), for `status`.
/// Thread-safe (atomics); the worker actor and the supervisor write them.
/// The scheduler does not route by them: it keeps its own load counts.
/// A new incarnation gets new stats.
struct worker_stats {
  std::atomic<int64_t> pid{0};
  std::atomic<uint64_t> uid{0};
  std::atomic<uint8_t> state{static_cast<uint8_t>(worker_state::starting)};
  /// Calls the worker actor holds: taken and not yet answered or handed back.
  std::atomic<int32_t> load{0};
  std::atomic<uint64_t> served{0};
  /// Set by the worker actor when the process died while it was ready and
  /// running a call: the supervisor charges that death to the call (which
  /// got `worker_crashed`) and does not count it towards `max_restarts`.
  std::atomic<bool> died_running_call{false};
};

/// One restart (or give-up) of a worker, for `status`.
struct restart_record {
  uint64_t slot = 0;
  /// Milliseconds since the Unix epoch.
  int64_t at_ms = 0;
  std::string reason;
  bool given_up = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, restart_record& x) {
  return f(caf::meta::type_name("pyactor::restart_record"), x.slot, x.at_ms, x.reason,
           x.given_up);
}

/// A snapshot of one worker slot, as reported by `status`.
struct worker_status {
  uint64_t slot = 0;
  uint64_t uid = 0;
  int64_t pid = 0;
  std::string state;
  uint64_t served = 0;
  uint32_t in_flight = 0;
  uint32_t restarts = 0;
  /// Resident set size in bytes (from /proc), 0 when unknown.
  uint64_t rss_bytes = 0;
  /// Why the last process ended, empty if it never did.
  std::string last_exit;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_status& x) {
  return f(caf::meta::type_name("pyactor::worker_status"), x.slot, x.uid, x.pid, x.state,
           x.served, x.in_flight, x.restarts, x.rss_bytes, x.last_exit);
}

} // namespace pyactor::actors
