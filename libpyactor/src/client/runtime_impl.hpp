// The runtime's private half, shared by runtime.cpp and parallel.cpp.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "object_refs.hpp"
#include "pyactor/actors/scheduler_actor.hpp"
#include "pyactor/actors/supervisor_actor.hpp"
#include "pyactor/codec/msgpack.hpp"
#include "pyactor/runtime.hpp"
#include "request_body.hpp"

namespace pyactor {

namespace client {

using namespace pyactor::actors;

/// Completes a std::promise with the decoded reply. A call sent straight to
/// a worker keeps a copy of its request: if that worker is gone before it
/// saw the call (the message is dropped, so this is destroyed undelivered),
/// the call goes to the scheduler instead of failing.
class future_completion final : public call_completion {
public:
  std::promise<result<value>> promise;
  std::optional<call_request> retry;
  scheduler_actor scheduler;

  ~future_completion() override {
    if (!done() && retry && scheduler) {
      auto again = std::make_shared<future_completion>();
      again->promise = std::move(promise);
      hand_over();
      caf::anon_send(scheduler, call_atom_v, std::move(*retry), reply_sink{std::move(again)});
      return;
    }
    complete_if_abandoned();
  }

protected:
  void complete(call_reply&& reply) override { promise.set_value(decode_reply(reply)); }
};

inline std::future<result<value>> ready_future(result<value> x) {
  std::promise<result<value>> p;
  p.set_value(std::move(x));
  return p.get_future();
}

/// Calls `done` with the decoded reply, on the actor thread that delivers it.
class callback_completion final : public call_completion {
public:
  explicit callback_completion(std::function<void(result<value>)> done) : done_(std::move(done)) {}
  ~callback_completion() override { complete_if_abandoned(); }

protected:
  void complete(call_reply&& reply) override { done_(decode_reply(reply)); }

private:
  std::function<void(result<value>)> done_;
};

} // namespace client

using namespace pyactor::actors;
using client::body_builder;
using client::collect_foreign;
using client::collect_owners;
using client::future_completion;
using client::substitute;
using worker::op;

/// Lets handles cancel calls while the runtime lives; the runtime's
/// destructor cuts the link.
struct call_handle::canceller {
  std::mutex mtx;
  scheduler_actor scheduler; // null once the runtime is gone

  void cancel(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    if (scheduler)
      caf::anon_send(scheduler, cancel_atom_v, id);
  }
};

struct runtime::impl {
  using call_request = actors::call_request;
  runtime_options options;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  scheduler_actor scheduler;
  supervisor_actor supervisor;
  std::shared_ptr<call_handle::canceller> canceller = std::make_shared<call_handle::canceller>();
  std::atomic<uint64_t> next_request_id{1};
  std::shared_ptr<route_table> routes = std::make_shared<route_table>();
  bool direct_least_loaded = false; // the policy allows picking on the caller's thread
  bool uses_affinity_key = false;    // only the affinity policy reads call_request::affinity_key

  /// "module.name" for the affinity policy; empty (no allocation) otherwise.
  std::string affinity_key(const std::string& module, const std::string& name) const {
    return uses_affinity_key ? module + "." + name : std::string{};
  }
  std::atomic<size_t> rotation{0};
  // Helper threads of cross-worker calls; the destructor waits for them.
  std::mutex tasks_mtx;
  std::condition_variable tasks_cv;
  int tasks = 0;

  ~impl() {
    {
      std::unique_lock<std::mutex> guard{tasks_mtx};
      tasks_cv.wait(guard, [&] { return tasks == 0; });
    }
    {
      std::lock_guard<std::mutex> guard{canceller->mtx};
      canceller->scheduler = nullptr;
    }
    if (sys) {
      caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(scheduler, caf::exit_reason::user_shutdown);
      supervisor = nullptr;
      scheduler = nullptr;
      sys.reset(); // waits until every actor (and so every worker process) is gone
    }
  }

  /// Sends one call; the handle always completes.
  call_handle send(std::vector<char> body, const call_options& opts, uint64_t owner_uid,
                   std::string affinity_key) {
    if (auto refused = client::oversized_body(body.size())) {
      call_handle handle;
      handle.future_ = client::ready_future(*refused);
      return handle;
    }
    call_request req;
    req.body = std::move(body);
    req.timeout_ms = static_cast<uint32_t>(
      std::min<int64_t>(opts.timeout.count(), std::numeric_limits<uint32_t>::max()));
    req.pin_slot = opts.worker;
    req.owner_uid = owner_uid;
    req.request_id = next_request_id.fetch_add(1);
    req.affinity_key = std::move(affinity_key);
    auto completion = std::make_shared<future_completion>();
    call_handle handle;
    handle.future_ = completion->promise.get_future();
    handle.id_ = req.request_id;
    handle.canceller_ = canceller;
    if (auto target = direct_target(req)) {
      completion->retry = req; // small: kept in case the worker is gone
      completion->scheduler = scheduler;
      target->stats->load.fetch_add(1);
      caf::anon_send(target->actor, call_atom_v, std::move(req),
                     reply_sink{std::move(completion)});
    } else {
      caf::anon_send(scheduler, call_atom_v, std::move(req), reply_sink{std::move(completion)});
    }
    return handle;
  }

  /// Largest request sent straight to a worker (a copy is kept meanwhile).
  static constexpr size_t direct_body_limit = 64 * 1024;

  /// Picks the worker for `req` from the scheduler's published snapshot,
  /// or returns nullptr to let the scheduler route it (parking, errors,
  /// policies other than least-loaded, big requests).
  std::shared_ptr<const worker_entry> direct_target(const call_request& req) {
    if (req.body.size() > direct_body_limit)
      return nullptr;
    auto snap = routes->load();
    const worker_entry* found = nullptr;
    if (req.owner_uid != 0) {
      for (auto& w : *snap)
        if (w.uid == req.owner_uid)
          found = &w;
    } else if (req.pin_slot != any_worker) {
      for (auto& w : *snap)
        if (w.slot == req.pin_slot)
          found = &w;
    } else if (direct_least_loaded && !snap->empty()) {
      auto& workers = *snap;
      found = &workers[pick_least_loaded(
        workers.size(), rotation.fetch_add(1, std::memory_order_relaxed),
        [&](size_t i) { return workers[i].stats->load.load(std::memory_order_relaxed); })];
    }
    if (found == nullptr)
      return nullptr;
    return std::shared_ptr<const worker_entry>(snap, found); // keeps the snapshot alive
  }

  /// Sends one call; `done` gets its result on an actor thread (keep it
  /// short). Returns the call's request id, for cancel.
  uint64_t send_callback(std::vector<char> body, const call_options& opts,
                         std::function<void(result<value>)> done) {
    if (auto refused = client::oversized_body(body.size())) {
      done(*refused); // on the calling thread
      return 0;
    }
    call_request req;
    req.body = std::move(body);
    req.timeout_ms = static_cast<uint32_t>(
      std::min<int64_t>(opts.timeout.count(), std::numeric_limits<uint32_t>::max()));
    req.pin_slot = opts.worker;
    req.request_id = next_request_id.fetch_add(1);
    auto id = req.request_id;
    caf::anon_send(scheduler, call_atom_v, std::move(req),
                   reply_sink{std::make_shared<client::callback_completion>(std::move(done))});
    return id;
  }

  /// Copies `ref` into the worker `to_uid` by pickle; returns the new reference.
  result<value> copy_object(const object_ref& ref, uint64_t to_uid, const call_options& opts) {
    auto dumped = send(body_builder{op::func, 5}.text("pickle").text("dumps").args({value{ref}})
                         .kwargs({}).flag(false).take(),
                       opts, ref.worker_uid, {})
                    .get();
    if (!dumped)
      return make_error(errc::cross_worker_ref,
                        "the " + ref.type_name + " object #" + std::to_string(ref.object_id)
                          + " lives in another worker and cannot be pickled to move it: "
                          + dumped.error().to_string());
    return send(body_builder{op::func, 5}.text("pickle").text("loads").args({dumped.value()})
                  .kwargs({}).flag(true).take(),
                opts, to_uid, {})
      .get();
  }

  /// Sends a call built by `build(args, kwargs, target)`. References of
  /// several workers: the objects of all but the first owner are copied to
  /// it by pickle first (on a helper thread, so this never blocks).
  template <class Build>
  call_handle submit(const value& target, list args, dict kwargs, const call_options& opts,
                     std::string affinity_key, Build build) {
    std::vector<uint64_t> owners;
    collect_owners(target, owners);
    for (auto& a : args)
      collect_owners(a, owners);
    for (auto& kv : kwargs.items)
      collect_owners(kv.second, owners);
    if (owners.size() <= 1) {
      std::vector<char> body;
      try {
        body = build(target, args, kwargs);
      } catch (const codec::encode_error& e) { // too deep or too long: never sent
        call_handle refused;
        refused.future_ = client::ready_future(make_error(errc::bad_request, e.what()));
        return refused;
      }
      return send(std::move(body), opts, owners.empty() ? 0 : owners.front(),
                  std::move(affinity_key));
    }
    uint64_t home = owners.front();
    call_handle handle;
    {
      std::lock_guard<std::mutex> guard{tasks_mtx};
      ++tasks;
    }
    handle.future_ = std::async(std::launch::async, [=, args = std::move(args),
                                                     kwargs = std::move(kwargs)]() -> result<value> {
      struct task_guard {
        impl* self;
        ~task_guard() {
          std::lock_guard<std::mutex> guard{self->tasks_mtx};
          --self->tasks;
          self->tasks_cv.notify_all();
        }
      } done{this};
      std::vector<object_ref> foreign;
      collect_foreign(target, home, foreign);
      for (auto& a : args)
        collect_foreign(a, home, foreign);
      for (auto& kv : kwargs.items)
        collect_foreign(kv.second, home, foreign);
      std::vector<std::pair<object_ref, value>> copies;
      for (auto& ref : foreign) {
        auto copy = copy_object(ref, home, opts);
        if (!copy)
          return copy.error();
        copies.emplace_back(ref, copy.value());
      }
      dict kw;
      for (auto& kv : kwargs.items)
        kw.items.emplace_back(kv.first, substitute(kv.second, copies));
      std::vector<char> body;
      try {
        body = build(substitute(target, copies), substitute(value{args}, copies).as<list>(), kw);
      } catch (const codec::encode_error& e) {
        body.clear();
        result<value> refused = make_error(errc::bad_request, e.what());
        for (auto& c : copies)
          send(body_builder{op::release, 1}.args({value{c.second.as<object_ref>().object_id}}).take(),
               {}, home, {})
            .get();
        return refused;
      }
      auto result = send(std::move(body), opts, home, affinity_key).get();
      for (auto& c : copies) // the copies were only for this call
        send(body_builder{op::release, 1}.args({value{c.second.as<object_ref>().object_id}}).take(),
             {}, home, {})
          .get();
      return result;
    });
    return handle;
  }

  template <class T>
  T ask_supervisor(T fallback, caf::message msg) const {
    caf::scoped_actor self{*sys};
    T result = std::move(fallback);
    self->request(caf::actor_cast<caf::actor>(supervisor), std::chrono::minutes(10), std::move(msg))
      .receive([&](T& x) { result = std::move(x); }, [&](caf::error&) {});
    return result;
  }
};

} // namespace pyactor
