#include "block_primer.hpp"

#include <Python.h>

#include <cstdint>

namespace pyactor::worker {

namespace {

// pymalloc's pool size: 16 KiB on 64-bit builds since 3.10 (radix tree),
// 4 KiB before. A wrong guess only makes the primer less useful.
#if PY_VERSION_HEX >= 0x030A0000 && SIZEOF_VOID_P == 8
constexpr unsigned pool_bits = 14;
#else
constexpr unsigned pool_bits = 12;
#endif

uintptr_t pool_of(const void* block) {
  return reinterpret_cast<uintptr_t>(block) >> pool_bits;
}

} // namespace

block_primer::~block_primer() {
  if (reserve_ != nullptr)
    PyObject_Free(reserve_);
}

void block_primer::free_range(size_t from, size_t to) {
  while (to > from)
    PyObject_Free(blocks_[--to]);
}

// pymalloc hands out blocks from the first pool of the size class until it is
// full, then from the next one, so the blocks of one pool come as one run.
// A pool that gave a whole run is full: the first free into it puts it
// first in the list, and freeing the rest of the run leaves it there with
// that many free blocks.
bool block_primer::operator()() {
  if (reserve_ != nullptr) {
    PyObject_Free(reserve_);
    reserve_ = nullptr;
  }
  blocks_.clear();
  if (blocks_.capacity() < max_blocks)
    blocks_.reserve(max_blocks);
  size_t run = 0; // where the current pool's run starts
  size_t found = 0, found_end = 0; // the first run of min_free or more that ended
  while (blocks_.size() < max_blocks) {
    void* p = PyObject_Malloc(block_size);
    if (p == nullptr) // out of memory: PyObject_Malloc sets no exception
      break;
    blocks_.push_back(p);
    size_t n = blocks_.size();
    if (n > 1 && pool_of(p) != pool_of(blocks_[n - 2])) {
      if (n - 1 - run >= min_free) {
        found = run;
        found_end = n - 1;
        break;
      }
      run = n - 1;
    }
    if (run == 0 && n == min_free) { // the first pool has room: undo, nothing moved
      free_range(0, n);
      return false;
    }
  }
  if (found_end == 0) { // no roomy pool within the bound: leave things as they were
    free_range(0, blocks_.size());
    return false;
  }
  free_range(found_end, blocks_.size()); // the next pool's blocks
  free_range(0, found);                  // the short pools before it
  reserve_ = blocks_[found];
  free_range(found + 1, found_end);      // the roomy pool: first, with that many free
  blocks_.clear();
  return true;
}

} // namespace pyactor::worker
