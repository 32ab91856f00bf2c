// Types of the parallel forms of `runtime`: broadcast, map/starmap/scatter,
// batch (lfex/py's "Identical Calls, Scatter/Gather", built).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor {

/// One worker's answer to a broadcast.
struct worker_reply {
  uint64_t worker = 0;
  result<value> outcome = value{};
};

struct broadcast_options {
  /// The workers to call; empty means every live worker.
  std::vector<uint64_t> workers;
  std::chrono::milliseconds timeout{0};
};

/// The result of one item of a map, with its position in the input.
struct item_result {
  size_t index = 0;
  result<value> outcome = value{};
};

/// How far a map has come.
struct map_progress {
  size_t done = 0;   ///< items answered (results and errors)
  size_t failed = 0; ///< items answered with an error
  size_t total = 0;  ///< items in the input, 0 when unknown (streaming)
  double items_per_second = 0;
  double eta_seconds = -1; ///< negative when unknown
};

/// Cancels a running map from any thread; copies share the same flag.
class map_cancel_token {
public:
  map_cancel_token() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() { flag_->store(true); }
  bool cancelled() const { return flag_->load(); }

private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

struct map_options {
  /// Items per message (run as a loop inside the worker); 0 chooses: a
  /// quarter of an even share per worker for a sized input (as
  /// multiprocessing does), else adapted so a chunk takes about 20 ms.
  size_t chunk = 0;
  /// Deliver results in input order; false delivers them as they complete.
  bool ordered = true;
  /// At the first item error, cancel the rest (they get `cancelled`).
  bool stop_on_error = false;
  /// When a worker dies running a chunk (or, on a connected runtime, the
  /// node running it is lost: `node_down`), run its items again one by one, each
  /// alone in its call: an item that kills its worker then fails by itself
  /// (`worker_crashed` naming the item's index), the others succeed. No item
  /// runs more than twice. Only for functions that are safe to repeat.
  /// Without it the chunk's items get `worker_crashed` (or `node_down`).
  bool retry_on_crash = false;
  /// Chunks in flight at once; 0 means two per worker. Bounds memory.
  size_t max_chunks_in_flight = 0;
  /// Deadline per chunk; 0 takes the runtime's default.
  std::chrono::milliseconds timeout{0};
  /// Called on the calling thread every `progress_interval` and at the end.
  std::function<void(const map_progress&)> on_progress;
  std::chrono::milliseconds progress_interval{500};
  /// Cancels the map: waiting chunks are dropped, running ones interrupted.
  map_cancel_token cancel;
};

/// How a streaming map ended.
struct map_summary {
  size_t items = 0;
  size_t ok = 0;
  size_t failed = 0;
  bool cancelled = false;
  bool stopped_on_error = false;
};

/// Produces the next item's argument list into `args`; false at the end.
using item_source = std::function<bool(list& args)>;

/// Receives each item's result on the calling thread.
using item_sink = std::function<void(item_result&&)>;

/// One call of a batch.
struct batch_call {
  std::string module;
  std::string function;
  list args;
  dict kwargs;
};

} // namespace pyactor
