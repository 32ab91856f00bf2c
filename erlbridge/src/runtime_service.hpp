// python_service over a pyactor::runtime: every call through the runtime's
// callback API (no thread waits for a call); pool queries on one admin thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pyactor/erlbridge/protocol.hpp"
#include "pyactor/reply_reader.hpp"
#include "pyactor/runtime.hpp"

namespace pyactor::erlbridge {

/// Returns `{ok, V}` or `{error, Reason}` (as reply values) for one item of a
/// broadcast, map or batch.
value item_outcome(const result<value>& r);

/// Thread-safe. Destroy it before the runtime; pending admin jobs then get
/// `not_running`.
class runtime_service : public python_service {
public:
  explicit runtime_service(runtime& rt);
  ~runtime_service() override;

  uint64_t submit(bridge_request req, completion done) override;
  void cancel(uint64_t handle) override;
  void offer_reading(bool on) override;
  void reading_fds(std::vector<int>& out) override;
  void on_readable(int fd) override;
  void stop_reading() override;

private:
  /// Runs `job` on the admin thread (status, workers, add_workers).
  void run_admin(std::function<result<value>()> job, completion done);
  uint64_t starmap(bridge_request req, completion done);
  /// The single calls, broadcast and batch (runtime_service_calls.cpp, as
  /// are `starmap` and `cancel`).
  uint64_t submit_call(bridge_request req, completion done);
  void admin_loop();

  /// Set in the handles of starmap groups (runtime call ids never reach it).
  static constexpr uint64_t group_bit = uint64_t{1} << 63;

  runtime& rt_;
  std::mutex mtx_;
  /// Running starmaps: group handle -> the call ids of its items.
  std::unordered_map<uint64_t, std::vector<uint64_t>> groups_;
  uint64_t next_group_ = 1;
  std::condition_variable cv_;
  std::deque<std::pair<std::function<result<value>()>, completion>> jobs_;
  bool stopping_ = false;
  std::thread admin_;
  /// The gateway loop's reader of its calls' replies (that thread's only).
  reply_reader reader_;
};

} // namespace pyactor::erlbridge
