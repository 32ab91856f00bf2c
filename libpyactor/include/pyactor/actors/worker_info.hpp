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
  restarting = 2, ///< process died; a new one is being started
  failed = 3,   ///< restart limit reached: the slot is given up
  stopped = 4,  ///< removed from the pool
};

/// Returns "starting", "ready", ...
const char* to_string(worker_state x);

/// Counters a worker actor updates and anyone on the node may read.
/// Thread-safe (atomics); shared by the worker actor, the scheduler
/// (least-loaded policy) and status queries.
struct worker_stats {
  std::atomic<int64_t> pid{0};
  std::atomic<uint64_t> uid{0};
  std::atomic<uint8_t> state{static_cast<uint8_t>(worker_state::starting)};
  std::atomic<uint32_t> in_flight{0};
  std::atomic<uint64_t> served{0};
  std::atomic<uint32_t> restarts{0};
};

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
