// The result slot behind a call_handle: one result, set once on any thread,
// waited for by the handle's owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "pyactor/runtime.hpp"

namespace pyactor {

/// Holds the result of one call. Setting it costs no syscall unless a
/// thread waits for it (std::promise costs one futex wake per set: its
/// call_once). Thread-safe.
struct call_handle::slot {
  /// Stores `r` and wakes the waiters; later sets are ignored.
  void set(result<value> r) {
    bool wake;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (r_)
        return;
      r_.emplace(std::move(r));
      wake = waiters_ > 0;
    }
    if (wake)
      cv_.notify_all();
  }

  /// Waits for the result and moves it out (once).
  result<value> take() {
    std::unique_lock<std::mutex> guard{mtx_};
    ++waiters_;
    cv_.wait(guard, [&] { return r_.has_value(); });
    --waiters_;
    return std::move(*r_);
  }

  bool ready() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return r_.has_value();
  }

  /// Waits up to `timeout`; true if the result is there.
  bool wait_for(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> guard{mtx_};
    ++waiters_;
    bool there = cv_.wait_for(guard, timeout, [&] { return r_.has_value(); });
    --waiters_;
    return there;
  }

private:
  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  mutable int waiters_ = 0; // guarded by mtx_
  std::optional<result<value>> r_; // guarded by mtx_
};

namespace client {

/// The completion's side of a slot: if the completion is dropped without
/// being called (it never should be), the slot gets `not_running` instead
/// of leaving its waiter blocked (what std::promise's broken_promise did).
class slot_writer {
public:
  explicit slot_writer(std::shared_ptr<call_handle::slot> slot) : slot_(std::move(slot)) {}
  slot_writer(const slot_writer&) = delete;
  slot_writer& operator=(const slot_writer&) = delete;
  ~slot_writer() {
    slot_->set(make_error(errc::not_running, "the call was dropped before it was answered"));
  }

  void set(result<value> r) {
    slot_->set(std::move(r));
  }

private:
  std::shared_ptr<call_handle::slot> slot_;
};

} // namespace client

} // namespace pyactor
