// The client side's one owner of exactly-once: the calls not yet answered.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor::client {

/// Receives the one result of a call.
using completion_callback = std::function<void(result<value>)>;

/// The calls of one runtime that have not been answered, by call id. Whoever
/// takes an entry out delivers its result; everyone else finds nothing, so
/// each callback runs exactly once, whichever of a reply, a cancel, a dropped
/// message or the runtime's shutdown comes first. Thread-safe; callbacks run
/// on the thread that takes the entry, never under a lock of the table.
class call_table {
public:
  using log_function = std::function<void(const std::string&)>;

  /// What `add` returns: the call's id, and false if the table is closed
  /// (the callback then already ran with `not_running`).
  struct ticket {
    uint64_t id = 0;
    bool open = false;
  };

  explicit call_table(log_function log) : log_(std::move(log)) {
    // nop
  }

  /// Registers `done` under a fresh id. `on_cancel` (may be empty) runs when
  /// the call is cancelled, before `done` gets `cancelled`. A closed table
  /// runs `done` with `not_running` at once, on this thread.
  ticket add(completion_callback done, std::function<void()> on_cancel = {});

  /// Takes the entry `id` and runs its callback with `make()`; false (and
  /// `make` not called) if the entry is gone.
  template <class Make>
  bool finish_with(uint64_t id, Make&& make) {
    entry e;
    if (!take(id, e))
      return false;
    run(id, e.done, make());
    return true;
  }

  /// Takes the entry `id` and runs its callback with `r`; false if gone.
  bool finish(uint64_t id, result<value> r) {
    return finish_with(id, [&] { return std::move(r); });
  }

  /// Cancels the call `id`: runs its cancel hook, then its callback with
  /// `cancelled`. False if the call is unknown or already answered.
  bool cancel(uint64_t id);

  /// True while the call `id` waits for its result.
  bool pending(uint64_t id) const;

  /// Closes the table: later `add`s are refused, and every call still
  /// pending gets `not_running`, on this thread.
  void close();

  /// Number of calls waiting for their result.
  size_t size() const;

  /// Runs `done(r)`, logging an exception it throws (the contract forbids it).
  void run(uint64_t id, const completion_callback& done, result<value>&& r) const {
    if (done)
      guarded(id, [&] { done(std::move(r)); });
  }

  /// Runs `f()` for the call `id`, catching and logging what it throws.
  template <class F>
  void guarded(uint64_t id, F&& f) const {
    try {
      f();
    } catch (const std::exception& x) {
      log_threw(id, x.what());
    } catch (...) {
      log_threw(id, "a non-standard exception");
    }
  }

private:
  struct entry {
    completion_callback done;
    std::function<void()> on_cancel;
  };

  struct shard {
    mutable std::mutex mtx;
    std::unordered_map<uint64_t, entry> calls;
  };

  static constexpr size_t shard_count = 16;

  shard& shard_of(uint64_t id) { return shards_[id % shard_count]; }
  const shard& shard_of(uint64_t id) const { return shards_[id % shard_count]; }
  bool take(uint64_t id, entry& out);
  void log_threw(uint64_t id, const char* what) const;

  log_function log_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> closed_{false};
  std::array<shard, shard_count> shards_;
};

} // namespace pyactor::client
