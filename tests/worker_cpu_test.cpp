// The worker's per-call shortcuts keep their contracts: the skip scan looks
// at each buffered frame once (frame_channel::scan_skips), yet hears every
// skip that arrives behind frames it has already scanned, also across the
// buffer's compaction; the block primer's quick look (one block, the pool
// header's count) still repairs, and falls back to counting by allocation
// when tracemalloc's hooks sit in front of pymalloc. Real worker processes,
// driven frame by frame; checked through replies, never through timings.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "worker/protocol.hpp"
#include "pyactor/codec/msgpack.hpp"
#include "test_fixtures.hpp"
#include "worker_client.hpp"

using namespace pyactor;
using pyactor::test::error_message;
using pyactor::test::func;
using pyactor::test::eval_request;
using pyactor::test::exec_request;
using pyactor::test::worker_client;
using pyactor::worker::op;

namespace {

/// Appends one request frame for call `id` to `out`.
void append_frame(std::vector<char>& out, uint64_t id, const value& body) {
  auto bytes = codec::encode_msgpack(body);
  size_t start = out.size();
  out.resize(start + worker::request_header_size);
  worker::put_u64(out.data() + start + 4, id);
  out.insert(out.end(), bytes.begin(), bytes.end());
  worker::seal_frame(out, start);
}

/// Appends the skip frame of call `id` (protocol.hpp `skip_flag`).
void append_skip(std::vector<char>& out, uint64_t id) {
  size_t start = out.size();
  out.resize(start + worker::request_header_size);
  worker::put_u64(out.data() + start + 4, id | worker::skip_flag);
  worker::seal_frame(out, start);
}

bool is_skipped(const test::frame& f) {
  return f.status != 0 && error_message(f).find("skipped") != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(worker_cpu)

BOOST_AUTO_TEST_CASE(skips_that_arrive_behind_scanned_frames_are_heard) {
  worker_client w;
  test::temp_dir dir{"pyactor-wkcpu"};
  auto fifo = (dir.path / "gate").string();
  BOOST_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  // One write: a call that blocks on the fifo, then 30 quick ones: the
  // worker reads them together and scans the 30 before the first call runs.
  std::vector<char> burst;
  uint64_t first = 1000;
  append_frame(burst, first,
               exec_request("print('gate waits', flush=True)\nopen('" + fifo + "').read()"));
  for (uint64_t i = 1; i <= 30; ++i)
    append_frame(burst, first + i, func("operator", "add", list{value{int64_t(i)}, value{1}}));
  w.proc->send(burst.data(), burst.size());
  BOOST_REQUIRE(w.log.wait_for("gate waits", std::chrono::seconds(30)));
  // Skips for two of them arrive while the first call blocks: after frames
  // the scan has already passed.
  std::vector<char> skips;
  append_skip(skips, first + 5);
  append_skip(skips, first + 17);
  w.proc->send(skips.data(), skips.size());
  {
    int gate = ::open(fifo.c_str(), O_WRONLY);
    BOOST_REQUIRE(gate >= 0);
    ::close(gate);
  }
  auto head = w.next_frame();
  BOOST_REQUIRE(head);
  BOOST_CHECK_EQUAL(head->id, first);
  BOOST_CHECK_EQUAL(head->status, 0);
  for (uint64_t i = 1; i <= 30; ++i) {
    auto r = w.next_frame();
    BOOST_REQUIRE(r);
    BOOST_REQUIRE_EQUAL(r->id, first + i);
    if (i == 5 || i == 17) {
      BOOST_CHECK_MESSAGE(is_skipped(*r), "call " << i << " ran despite its skip");
    } else {
      BOOST_REQUIRE_EQUAL(r->status, 0);
      BOOST_CHECK((r->payload == value{int64_t(i + 1)}));
    }
  }
  // The skip frames got no reply of their own: the next frame is this call's.
  auto after = w.call(func("operator", "add", list{value{2}, value{3}}));
  BOOST_CHECK((after.payload == value{5}));
}

BOOST_AUTO_TEST_CASE(many_pipelined_calls_with_skips_across_buffer_refills_get_one_reply_each) {
  worker_client w;
  // 12,000 calls (~600 KB, more than the worker's 256 KiB buffer: partial
  // frames, refills and compactions), each 7th followed by its skip frame.
  constexpr uint64_t calls = 12000;
  std::vector<char> all;
  for (uint64_t id = 1; id <= calls; ++id) {
    append_frame(all, id, func("operator", "add", list{value{int64_t(id)}, value{1}}));
    if (id % 7 == 0)
      append_skip(all, id);
  }
  for (size_t at = 0; at < all.size(); at += 100000) // several writes of the node
    w.proc->send(all.data() + at, std::min<size_t>(100000, all.size() - at));
  uint64_t skipped = 0;
  for (uint64_t id = 1; id <= calls; ++id) {
    auto r = w.next_frame();
    BOOST_REQUIRE(r);
    BOOST_REQUIRE_EQUAL(r->id, id);
    if (id % 7 == 0 && is_skipped(*r)) {
      ++skipped;
      continue;
    }
    // A skip heard too late lets its call run (the node drops that reply).
    BOOST_REQUIRE_EQUAL(r->status, 0);
    BOOST_REQUIRE((r->payload == value{int64_t(id + 1)}));
  }
  BOOST_TEST_MESSAGE("skipped " << skipped << " of " << calls / 7);
  // The first read takes whole pairs of frame and skip: some are heard in time.
  BOOST_CHECK_GT(skipped, 0u);
  auto after = w.call(func("operator", "add", list{value{2}, value{3}}));
  BOOST_CHECK((after.payload == value{5}));
}

BOOST_AUTO_TEST_CASE(with_tracemalloc_hooks_the_primer_still_repairs) {
  worker_client w;
  BOOST_REQUIRE_EQUAL(w.call(exec_request("import tracemalloc\ntracemalloc.start()")).status, 0);
  for (int round = 0; round < 3; ++round) {
    auto r = w.call(exec_request("_keep = [10**6 + i for i in range(3000)]\n"
                         "_hole = id(_keep[1500])\n"
                         "_keep[1500] = None\n"));
    BOOST_REQUIRE_EQUAL(r.status, 0);
    r = w.call(eval_request("id(int('7654321')) == _hole"));
    BOOST_REQUIRE_EQUAL(r.status, 0);
    BOOST_CHECK_MESSAGE((r.payload == value{false}),
                        "round " << round << ": the call's first int took the lone free block");
  }
  BOOST_REQUIRE_EQUAL(w.call(exec_request("tracemalloc.stop()")).status, 0);
  // Hooks gone again: the quick look is not used (the allocator it saw at
  // start is back, so it may be), and repairs go on either way.
  auto r = w.call(exec_request("_keep = [10**6 + i for i in range(3000)]\n"
                       "_hole = id(_keep[1500])\n"
                       "_keep[1500] = None\n"));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  r = w.call(eval_request("id(int('7654321')) == _hole"));
  BOOST_CHECK((r.payload == value{false}));
}

BOOST_AUTO_TEST_SUITE_END()
