#include "block_primer.hpp"

#include <Python.h>

#include <cstdint>
#include <cstring>

#include <dlfcn.h>
#include <unistd.h>

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

// pymalloc's pool header (Objects/obmalloc.c, unchanged from 3.8 to 3.12):
// the count of blocks in use (in a union with a pointer), three pointers,
// then arenaindex, szidx, nextoffset, maxnextoffset (uint each); 48 bytes,
// which the blocks follow.
struct pool_header_view {
  uint32_t count; // low half of the union with a pointer (little endian)
  uint32_t pad;
  void* pointers[3]; // freeblock, nextpool, prevpool
  uint32_t arenaindex;
  uint32_t szidx;
  uint32_t nextoffset;
  uint32_t maxnextoffset;
};
static_assert(sizeof(pool_header_view) == 48);

constexpr size_t pool_size = size_t{1} << pool_bits;
constexpr uint32_t size_class_32 = 1; // 32-byte blocks, 16-byte alignment
constexpr long pool_capacity = static_cast<long>((pool_size - sizeof(pool_header_view)) / 32);

/// The header of the pool `block` is in, or nullptr when `block` may not be
/// pymalloc's: below the program break it may come from libc's heap (what
/// pymalloc falls back to when it cannot map an arena), whose memory below
/// the block need not be mapped. pymalloc maps its arenas with mmap, above
/// the break (in the legacy bottom-up layout they can lie below it: then the
/// quick look is merely never used). sbrk(0) reads glibc's cached break.
const pool_header_view* header_of(const void* block) {
  if (static_cast<const char*>(block) < static_cast<const char*>(::sbrk(0)))
    return nullptr;
  return reinterpret_cast<const pool_header_view*>(reinterpret_cast<uintptr_t>(block)
                                                   & ~(uintptr_t{pool_size} - 1));
}

// Whether the object domain is pymalloc itself: "pymalloc" from CPython's
// (exported, private) _PyMem_GetCurrentAllocatorName, looked up at run time.
bool pymalloc_serves() {
#if PY_VERSION_HEX >= 0x03080000 && PY_VERSION_HEX < 0x030D0000 && SIZEOF_VOID_P == 8      \
  && PY_LITTLE_ENDIAN
  using name_fn = const char* (*)();
  auto fn = reinterpret_cast<name_fn>(dlsym(RTLD_DEFAULT, "_PyMem_GetCurrentAllocatorName"));
  const char* name = fn != nullptr ? fn() : nullptr;
  return name != nullptr && std::strcmp(name, "pymalloc") == 0;
#else
  return false;
#endif
}

} // namespace

block_primer::block_primer() {
  if (!pymalloc_serves())
    return;
  PyMemAllocatorEx current{};
  PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &current);
  // Two blocks from one pool must show in its header as two more in use.
  void* a = PyObject_Malloc(block_size);
  void* b = PyObject_Malloc(block_size);
  if (a != nullptr && b != nullptr && pool_of(a) == pool_of(b)) {
    const pool_header_view* h = header_of(a);
    uint32_t with_both = h != nullptr ? h->count : 0;
    PyObject_Free(b);
    b = nullptr;
    if (h != nullptr && h->szidx == size_class_32 && h->maxnextoffset == pool_size - block_size
        && h->count + 1 == with_both && with_both <= static_cast<uint32_t>(pool_capacity))
      pymalloc_ = current.malloc;
  }
  if (b != nullptr)
    PyObject_Free(b);
  if (a != nullptr)
    PyObject_Free(a);
}

long block_primer::free_in_first_pool() const {
  if (pymalloc_ == nullptr)
    return -1;
  PyMemAllocatorEx current{};
  PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &current); // tracemalloc's hooks, say
  if (current.malloc != pymalloc_)
    return -1;
  void* p = PyObject_Malloc(block_size);
  if (p == nullptr)
    return -1;
  const pool_header_view* h = header_of(p);
  long free_blocks = -1;
  if (h != nullptr && h->szidx == size_class_32 && h->count >= 1
      && h->count <= static_cast<uint32_t>(pool_capacity))
    free_blocks = pool_capacity - static_cast<long>(h->count) + 1; // p goes back
  PyObject_Free(p);
  return free_blocks;
}

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
  // The quick look: one block, the count in its pool's header. A pool
  // that was full and handed out its last block is re-linked first by the
  // free with one block: that reads as short, and the repair below runs.
  if (free_in_first_pool() >= static_cast<long>(min_free))
    return false;
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
