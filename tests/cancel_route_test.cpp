// A cancel goes to the one worker that holds the call. The real scheduler
// actor routes to stand-in workers that count the cancels they get (a unit
// test of the scheduler); then a real pool cancels one of three running calls.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include <caf/all.hpp>

#include "actors/scheduler_actor.hpp"
#include "pyactor/runtime.hpp"
#include "test_fixtures.hpp"

using namespace pyactor;
using namespace pyactor::actors;

namespace {

/// What the stand-in workers and the callers saw.
struct observations {
  std::mutex mtx;
  std::condition_variable cv;
  std::map<uint64_t, int> cancels;                // by worker uid
  std::map<uint64_t, int> calls;                  // by worker uid
  std::map<uint64_t, std::vector<uint8_t>> replies; // by request id

  void count(std::map<uint64_t, int>& m, uint64_t key) {
    std::lock_guard<std::mutex> guard{mtx};
    ++m[key];
    cv.notify_all();
  }

  /// Waits (bounded, against a hang) until `pred` holds under the lock.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, std::chrono::seconds(30), pred);
  }
};

class recorder final : public call_completion {
public:
  recorder(std::shared_ptr<observations> obs, uint64_t id) : obs_(std::move(obs)), id_(id) {
    // nop
  }

protected:
  void complete(call_reply&& reply) override {
    std::lock_guard<std::mutex> guard{obs_->mtx};
    obs_->replies[id_].push_back(reply.code);
    obs_->cv.notify_all();
  }

private:
  std::shared_ptr<observations> obs_;
  uint64_t id_;
};

/// A directory removed with everything in it at the end of the test.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/pyactor-cancel-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream{path + "/" + name} << text;
  }
};

struct stand_in_state {
  std::map<uint64_t, reply_sink> held;
};

/// Holds every call until it is cancelled, and reports what it holds to the
/// scheduler as a worker actor does.
worker_actor::behavior_type stand_in(worker_actor::stateful_pointer<stand_in_state> self,
                                     std::shared_ptr<observations> obs, scheduler_actor sched,
                                     uint64_t uid) {
  return {
    [=](call_atom, call_request&) {
      return make_error_reply(errc::bad_request, "the stand-in takes calls with a sink only");
    },
    [=](call_atom, call_request& req, reply_sink& sink) {
      obs->count(obs->calls, uid);
      self->state.held[req.request_id] = std::move(sink);
      self->send(sched, held_atom_v, uid, std::vector<uint64_t>{req.request_id},
                 std::vector<uint64_t>{});
    },
    [=](cancel_atom, uint64_t id) {
      obs->count(obs->cancels, uid);
      auto i = self->state.held.find(id);
      if (i == self->state.held.end())
        return;
      i->second.completion->deliver(make_error_reply(errc::cancelled, "cancelled"));
      self->state.held.erase(i);
      self->send(sched, held_atom_v, uid, std::vector<uint64_t>{}, std::vector<uint64_t>{id});
    },
    [=](drain_atom) {},
  };
}

struct routing_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  scheduler_actor scheduler;
  std::vector<worker_actor> workers; // uid i+1 in slot i+1
  std::shared_ptr<observations> obs = std::make_shared<observations>();

  routing_fixture() {
    cfg.add_message_types<caf::id_block::pyactor>();
    sys = std::make_unique<caf::actor_system>(cfg);
    scheduler = sys->spawn(scheduler_behavior, make_policy("round-robin").value(),
                           std::shared_ptr<route_table>{});
    caf::scoped_actor self{*sys};
    for (uint64_t uid = 1; uid <= 3; ++uid) {
      auto w = sys->spawn(stand_in, obs, scheduler, uid);
      workers.push_back(w);
      self->send(scheduler, worker_atom_v, uid, true);
      self->send(scheduler, worker_atom_v, worker_entry{uid, uid, w, nullptr, nullptr});
    }
    sync(self); // all three joined
  }

  ~routing_fixture() {
    for (auto& w : workers)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
  }

  reply_sink sink(uint64_t id) {
    return reply_sink{std::make_shared<recorder>(obs, id)};
  }

  call_request request(uint64_t id, uint64_t pin = any_worker) {
    call_request req;
    req.body = {'\x90'};
    req.request_id = id;
    req.pin_slot = pin;
    return req;
  }

  /// Returns once the scheduler has handled what `self` sent it before.
  void sync(caf::scoped_actor& self) {
    self->request(scheduler, std::chrono::seconds(30), leave_atom_v, uint64_t{999}, uint64_t{999})
      .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  }

  int cancels_total() {
    int n = 0;
    for (auto& kv : obs->cancels)
      n += kv.second;
    return n;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(cancel_route)

BOOST_AUTO_TEST_CASE(a_cancel_reaches_only_the_worker_the_scheduler_gave_the_call) {
  routing_fixture f;
  caf::scoped_actor self{*f.sys};
  for (uint64_t id = 1; id <= 6; ++id) // round-robin: two calls on each worker
    self->send(f.scheduler, call_atom_v, f.request(id), f.sink(id));
  BOOST_REQUIRE(f.obs->wait([&] { return f.obs->calls.size() == 3; }));
  self->send(f.scheduler, cancel_atom_v, uint64_t{5});
  BOOST_REQUIRE(f.obs->wait([&] { return f.obs->replies.count(5) > 0; }));
  f.sync(self);
  std::lock_guard<std::mutex> guard{f.obs->mtx};
  BOOST_CHECK_EQUAL(f.obs->replies[5].size(), 1u);
  BOOST_CHECK_EQUAL(f.obs->replies[5].front(), static_cast<uint8_t>(errc::cancelled));
  BOOST_CHECK_EQUAL(f.obs->cancels.size(), 1u); // one worker heard of it ...
  BOOST_CHECK_EQUAL(f.obs->cancels[2], 1);      // ... the one holding call 5
  BOOST_CHECK_EQUAL(f.obs->replies.size(), 1u); // the others still run
}

BOOST_AUTO_TEST_CASE(a_cancel_finds_a_call_sent_straight_to_a_worker) {
  routing_fixture f;
  caf::scoped_actor self{*f.sys};
  // As the C++ API's direct route does: to worker 3, not via the scheduler.
  self->send(f.workers[2], call_atom_v, f.request(7, 3), f.sink(7));
  BOOST_REQUIRE(f.obs->wait([&] { return f.obs->calls[3] == 1; }));
  // Whether the worker's report reached the scheduler first or not, the
  // cancel finds the call.
  self->send(f.scheduler, cancel_atom_v, uint64_t{7});
  BOOST_REQUIRE(f.obs->wait([&] { return f.obs->replies.count(7) > 0; }));
  std::lock_guard<std::mutex> guard{f.obs->mtx};
  BOOST_CHECK_EQUAL(f.obs->replies[7].size(), 1u);
  BOOST_CHECK_EQUAL(f.obs->cancels.size(), 1u);
  BOOST_CHECK_EQUAL(f.obs->cancels[3], 1);
}

BOOST_AUTO_TEST_CASE(a_cancel_ahead_of_the_workers_report_is_delivered_with_it) {
  routing_fixture f;
  caf::scoped_actor self{*f.sys};
  // The cancel is handled before the call reaches the worker at all.
  self->send(f.scheduler, cancel_atom_v, uint64_t{8});
  f.sync(self);
  self->send(f.workers[0], call_atom_v, f.request(8, 1), f.sink(8));
  BOOST_REQUIRE(f.obs->wait([&] { return f.obs->replies.count(8) > 0; }));
  std::lock_guard<std::mutex> guard{f.obs->mtx};
  BOOST_CHECK_EQUAL(f.obs->replies[8].size(), 1u);
  BOOST_CHECK_EQUAL(f.obs->replies[8].front(), static_cast<uint8_t>(errc::cancelled));
  BOOST_CHECK_EQUAL(f.obs->cancels.size(), 1u);
  BOOST_CHECK_EQUAL(f.obs->cancels[1], 1);
}

BOOST_AUTO_TEST_CASE(a_pool_cancels_one_of_three_running_calls_once) {
  temp_dir dir;
  dir.write("waiter.py", "import os, time\n"
                         "def wait(d):\n"
                         "    while not os.path.exists(d + '/release'):\n"
                         "        time.sleep(0.01)\n"
                         "    return os.getpid()\n");
  auto o = test::test_options(3);
  o.python_path = {dir.path};
  auto rt = test::start_pool(o);
  auto obs = std::make_shared<observations>();
  std::vector<uint64_t> ids;
  for (uint64_t slot = 1; slot <= 3; ++slot) {
    call_options pinned;
    pinned.worker = slot;
    ids.push_back(rt->call_async("waiter", "wait", {value{dir.path}}, {}, pinned,
                                 [obs, slot](result<value> r) {
                                   std::lock_guard<std::mutex> guard{obs->mtx};
                                   obs->replies[slot].push_back(
                                     r ? 0 : static_cast<uint8_t>(r.error().code));
                                   obs->cv.notify_all();
                                 }));
  }
  BOOST_REQUIRE(test::eventually([&] {
    for (auto& w : rt->status())
      if (w.in_flight != 1)
        return false;
    return true;
  }));
  rt->cancel(ids[1]);
  BOOST_REQUIRE(obs->wait([&] { return obs->replies.count(2) > 0; }));
  dir.write("release", "");
  BOOST_REQUIRE(obs->wait([&] { return obs->replies.size() == 3; }));
  std::lock_guard<std::mutex> guard{obs->mtx};
  BOOST_CHECK_EQUAL(obs->replies[2].size(), 1u);
  BOOST_CHECK_EQUAL(obs->replies[2].front(), static_cast<uint8_t>(errc::cancelled));
  BOOST_CHECK_EQUAL(obs->replies[1].size(), 1u);
  BOOST_CHECK_EQUAL(obs->replies[1].front(), 0);
  BOOST_CHECK_EQUAL(obs->replies[3].size(), 1u);
  BOOST_CHECK_EQUAL(obs->replies[3].front(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
