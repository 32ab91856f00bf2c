// Reading the replies of one's own calls inside one's own poll loop.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace pyactor {

/// Lets a thread that runs its own poll loop (the erlbridge gateway) read
/// the replies of the calls it submits, instead of each worker's I/O thread
/// reading them and calling back from there: one thread less on a call's
/// path (the reply wakes the submitting thread, which answers at once).
///
/// While `offer(true)` holds on the owning thread, a call submitted there
/// (`runtime::call_async` and friends) that goes straight to a worker whose
/// replies nobody is reading yet makes this reader that worker's reader; the
/// thread then polls `fds()` for POLLIN and calls `on_ready` for each ready
/// one. The reader reads that worker's replies (other threads' calls too)
/// and runs their completions on the owning thread, until nothing is
/// outstanding there, its channel closes or the worker stops; then the
/// worker's I/O thread reads again. Deadlines, kills and worker deaths are
/// handled as for any call. Not thread-safe: the owning thread makes every
/// call; completions must not block it. `release` (or the destructor) must
/// run before the runtime stops, on the owning thread.
class reply_reader {
public:
  reply_reader();
  ~reply_reader();
  reply_reader(const reply_reader&) = delete;
  reply_reader& operator=(const reply_reader&) = delete;

  /// Offers this reader to the calls this thread submits from now on, or
  /// stops offering it (the workers it reads stay until they are done).
  void offer(bool on);

  /// Appends the descriptors to poll for POLLIN now.
  void fds(std::vector<int>& out) const;

  /// One of `fds` is readable (or hung up): reads what is there and runs
  /// the completions; unknown descriptors are ignored.
  void on_ready(int fd);

  /// How many workers' replies this reader reads now.
  size_t reading() const;

  /// Hands every worker back to its I/O thread.
  void release();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace pyactor
