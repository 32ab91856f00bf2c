#include "call_table.hpp"

namespace pyactor::client {

call_table::ticket call_table::add(completion_callback done, std::function<void()> on_cancel) {
  ticket t;
  t.id = next_id_.fetch_add(1, std::memory_order_relaxed);
  {
    auto& s = shard_of(t.id);
    std::lock_guard<std::mutex> guard{s.mtx};
    // close() sets the flag before it drains a shard under its lock, so an
    // add that sees it unset here is drained by close() if it comes later.
    if (!closed_.load(std::memory_order_acquire)) {
      s.calls.emplace(t.id, entry{std::move(done), std::move(on_cancel)});
      t.open = true;
      return t;
    }
  }
  run(t.id, done,
      make_error(errc::not_running, "the runtime is shutting down: call " + std::to_string(t.id)
                                      + " was not sent"));
  return t;
}

bool call_table::take(uint64_t id, entry& out) {
  auto& s = shard_of(id);
  std::lock_guard<std::mutex> guard{s.mtx};
  auto i = s.calls.find(id);
  if (i == s.calls.end())
    return false;
  out = std::move(i->second);
  s.calls.erase(i);
  return true;
}

bool call_table::cancel(uint64_t id) {
  entry e;
  if (!take(id, e))
    return false;
  if (e.on_cancel) {
    try {
      e.on_cancel();
    } catch (const std::exception& x) {
      log_("[pyactor] cancelling call " + std::to_string(id) + " failed: " + x.what());
    }
  }
  run(id, e.done, make_error(errc::cancelled, "call " + std::to_string(id)
                                                + " was cancelled by the caller: if it was waiting "
                                                  "it is dropped, if running interrupted"));
  return true;
}

bool call_table::pending(uint64_t id) const {
  auto& s = shard_of(id);
  std::lock_guard<std::mutex> guard{s.mtx};
  return s.calls.count(id) > 0;
}

void call_table::close() {
  closed_.store(true, std::memory_order_release);
  std::vector<std::pair<uint64_t, entry>> left;
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> guard{s.mtx};
    for (auto& kv : s.calls)
      left.emplace_back(kv.first, std::move(kv.second));
    s.calls.clear();
  }
  for (auto& kv : left)
    run(kv.first, kv.second.done,
        make_error(errc::not_running, "the runtime was destroyed while call "
                                        + std::to_string(kv.first) + " was in flight"));
}

size_t call_table::size() const {
  size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> guard{s.mtx};
    n += s.calls.size();
  }
  return n;
}

void call_table::log_threw(uint64_t id, const char* what) const {
  if (log_)
    log_("[pyactor] the completion callback of call " + std::to_string(id)
         + " threw (ignored; callbacks must not throw): " + what);
}

} // namespace pyactor::client
