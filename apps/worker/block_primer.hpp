// Keeps CPython's small-object allocator (pymalloc) out of a slow state for
// 32-byte blocks (ints below 2**60, floats) at the start of each call.
//
// pymalloc serves a size class from the first pool of a list; a free into a
// full pool puts that pool first with ONE free block. Code that creates and
// drops one int per step (sum(range(n)), most numeric loops) then fills and
// unlinks that pool on every allocation and relinks it on every free: about
// 1.2x the time of the same loop on a roomier pool. Whether a process is in
// that state depends only on its allocation history, so python3 itself lands
// there after some sequences (bench/cpu_host.py --heap-states shows it); a
// worker, whose loop repeats the same steps between calls, would land there
// for every call of an unlucky workload.
#pragma once

#include <cstddef>
#include <vector>

namespace pyactor::worker {

/// Between calls, makes sure the first pymalloc pool for 32-byte blocks has
/// at least `min_free` free blocks. Performance only: it frees what it
/// allocates (it keeps at most one 32-byte block until its next run), and
/// with another allocator it merely allocates and frees a few blocks.
/// PRECONDITION: the caller holds the GIL.
class block_primer {
public:
  static constexpr size_t block_size = 32;
  static constexpr size_t min_free = 64;
  /// Upper bound on the blocks one run allocates (four 16 KiB pools).
  static constexpr size_t max_blocks = 2100;

  /// Looks whether pymalloc serves the object domain (then the check reads
  /// the first pool's block count instead of allocating 64 blocks).
  block_primer();
  block_primer(const block_primer&) = delete;
  block_primer& operator=(const block_primer&) = delete;
  ~block_primer();

  /// Runs the check, and the repair when the first pool is short of blocks.
  /// Returns true when it had to repair.
  bool operator()();

private:
  /// Frees blocks_[from, to) last first.
  void free_range(size_t from, size_t to);

  /// The free blocks of the first 32-byte pool, read from its header after
  /// one allocation; -1 when the header cannot be trusted (another
  /// allocator, hooks installed since, a layout it does not recognise).
  long free_in_first_pool() const;

  // PyObject_Malloc's implementation when pymalloc was found serving
  // without hooks; nullptr: always count by allocating.
  void* (*pymalloc_)(void*, size_t) = nullptr;

  std::vector<void*> blocks_;
  void* reserve_ = nullptr; // keeps the repaired pool from emptying (and leaving the list)
};

} // namespace pyactor::worker
