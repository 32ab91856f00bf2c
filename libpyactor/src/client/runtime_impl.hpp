// The runtime's private half, shared by the client's .cpp files.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "call_table.hpp"
#include "client_actor.hpp"
#include "object_refs.hpp"
#include "actors/scheduler_actor.hpp"
#include "actors/supervisor_actor.hpp"
#include "pyactor/codec/msgpack.hpp"
#include "pyactor/reply_reader.hpp"
#include "pyactor/runtime.hpp"
#include "call_slot.hpp"
#include "request_body.hpp"

namespace pyactor {

namespace client {

/// Hands an actor's reply to the call table. A call sent straight to a
/// worker keeps a copy of its request: if that worker is gone before it saw
/// the call (the message is dropped, so this is destroyed undelivered), the
/// call goes to the scheduler instead of failing.
class table_completion final : public actors::call_completion {
public:
  table_completion(std::shared_ptr<call_table> table, uint64_t id)
    : table_(std::move(table)), id_(id) {
    // nop
  }

  std::optional<actors::call_request> retry;
  actors::scheduler_actor scheduler;

  ~table_completion() override {
    if (!done() && retry && scheduler && table_->pending(id_)) {
      auto again = std::make_shared<table_completion>(table_, id_);
      hand_over();
      caf::anon_send(scheduler, actors::call_atom_v, std::move(*retry),
                     actors::reply_sink{std::move(again)});
      return;
    }
    complete_if_abandoned(); // worker_crashed, unless the call was answered
  }

protected:
  void complete(actors::call_reply&& reply) override {
    table_->finish_with(id_, [&] { return actors::decode_reply(reply); });
  }

private:
  std::shared_ptr<call_table> table_;
  uint64_t id_;
};

/// A blocking caller's offer to read its reply itself: `submit_one` takes
/// it from `current` (this thread's) for the first call it sends, and sets
/// `lane` if that call went through a lane whose reader token it got; the
/// caller must then `lead` on that lane.
struct lead_request {
  std::shared_ptr<actors::call_lane> lane;
  static thread_local lead_request* current;
};

} // namespace client

/// The lanes a reply_reader reads (reply_reader.cpp); `offered` is the
/// reader this thread offers to its calls (see reply_reader::offer).
struct reply_reader::impl {
  std::vector<std::shared_ptr<actors::call_lane>> lanes;
  bool offering = false;
  static thread_local impl* offered;
};

namespace client {

/// Returns the timeout to send for `opts`, or a `bad_request` naming it.
result<uint32_t> timeout_of(const call_options& opts);

} // namespace client

/// Lets handles cancel calls while the runtime lives; the runtime's
/// shutdown cuts the link.
struct call_handle::canceller {
  std::mutex mtx;
  runtime::impl* rt = nullptr; // null once the runtime is shutting down

  void cancel(uint64_t id);
};

struct runtime::impl {
  /// The actors the API talks to. Callers on any thread load them with
  /// `ends()`; `shutdown` swaps in null before the actor system goes.
  struct endpoints {
    actors::scheduler_actor scheduler;
    actors::supervisor_actor supervisor;
    caf::actor client;
  };

  runtime_options options;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<const endpoints> ends_;
  std::shared_ptr<client::call_table> calls;
  std::shared_ptr<call_handle::canceller> canceller = std::make_shared<call_handle::canceller>();
  std::shared_ptr<actors::route_table> routes = std::make_shared<actors::route_table>();
  bool direct_least_loaded = false; // the policy allows picking on the caller's thread
  bool uses_affinity_key = false;    // only the affinity policy reads call_request::affinity_key
  std::atomic<size_t> rotation{0};
  /// A runtime from `connect`: the scheduler and supervisor endpoints are
  /// one head link (cluster/head_link_actor.hpp) and `routes` stays empty.
  bool connected = false;

  ~impl() { shutdown(); }

  std::shared_ptr<const endpoints> ends() const { return std::atomic_load(&ends_); }

  /// Stops the runtime, once: every call still pending gets `not_running`
  /// on this thread, then the actors (and so the worker processes) stop.
  void shutdown();

  /// "module.name" for the affinity policy; empty (no allocation) otherwise.
  std::string affinity_key(const std::string& module, const std::string& name) const {
    return uses_affinity_key ? module + "." + name : std::string{};
  }

  // -- calls ----------------------------------------------------------------

  /// Sends one call; `done` gets its one result. Returns the call id.
  uint64_t submit_one(std::vector<char> body, const call_options& opts, uint64_t owner_uid,
                      std::string affinity_key, client::completion_callback done);

  /// Builds a request from the target and arguments after object references
  /// of other workers in them were copied to one worker.
  using body_function = std::function<std::vector<char>(const value&, const list&, const dict&)>;

  /// Sends a call built by `build(target, args, kwargs)`. References of
  /// several workers: the objects of all but the first owner are copied to
  /// it by pickle first, one step after another, each step started by the
  /// previous one's callback (no thread waits).
  /// `Build` is called as a body_function is, and made one only when
  /// references of several workers need it later (no allocation for the
  /// common call). Defined in runtime_calls.cpp, its only user.
  template <class Build>
  uint64_t submit(const value& target, list args, dict kwargs, const call_options& opts,
                  std::string affinity_key, Build build, client::completion_callback done);

  /// The part of `submit` for references of several workers (`first` owns
  /// the first of them).
  uint64_t submit_cross(const value& target, list args, dict kwargs, const call_options& opts,
                        std::string affinity_key, uint64_t first, body_function build,
                        client::completion_callback done);

  /// Registers `done` and answers it with `e` on the client actor.
  uint64_t refuse(client::completion_callback done, error e);

  /// Cancels the call `id` (on the client actor): its callback gets
  /// `cancelled` and the scheduler interrupts it wherever it is.
  void cancel(uint64_t id);

  /// Runs `job` on the client actor; dropped once the runtime stops.
  void post(std::function<void(caf::event_based_actor*)> job) const;

  /// A handle whose future gets the result of the call `submit` sends.
  template <class Submit>
  call_handle make_handle(Submit&& submit) {
    call_handle handle;
    handle.slot_ = std::make_shared<call_handle::slot>();
    auto writer = std::make_shared<client::slot_writer>(handle.slot_);
    handle.id_ = submit([writer](result<value> r) { writer->set(std::move(r)); });
    handle.canceller_ = canceller;
    return handle;
  }

  /// Sends one call and returns a handle to its result (parallel.cpp).
  call_handle send(std::vector<char> body, const call_options& opts, uint64_t owner_uid,
                   std::string affinity_key) {
    return make_handle([&](client::completion_callback done) {
      return submit_one(std::move(body), opts, owner_uid, std::move(affinity_key), std::move(done));
    });
  }

  /// Sends one call; `done` gets its result (parallel.cpp). Returns its id.
  uint64_t send_callback(std::vector<char> body, const call_options& opts,
                         std::function<void(result<value>)> done) {
    return submit_one(std::move(body), opts, 0, {}, std::move(done));
  }

  /// Picks the worker for `req` from the scheduler's published snapshot,
  /// or returns nullptr to let the scheduler route it.
  std::shared_ptr<const actors::worker_entry> direct_target(const actors::call_request& req);

  /// Largest request sent straight to a worker's actor when its lane does
  /// not take it (a copy is kept meanwhile); a lane takes any size.
  static constexpr size_t direct_body_limit = 64 * 1024;

  // -- questions to the supervisor --------------------------------------------

  /// Asks the supervisor `msg` through the client actor and waits for the
  /// answer on this thread (no `scoped_actor` here: shared/caf-0.17.md §10).
  template <class T>
  result<T> ask(caf::message msg, std::chrono::milliseconds timeout) const {
    struct answer {
      std::promise<result<T>> promise;
      bool given = false;
      void give(result<T> x) {
        if (!given) {
          given = true;
          promise.set_value(std::move(x));
        }
      }
      ~answer() { give(make_error(errc::not_running, "the runtime stopped before the supervisor answered")); }
    };
    auto e = ends();
    if (!e)
      return make_error(errc::not_running, "the runtime is shutting down");
    auto a = std::make_shared<answer>();
    auto future = a->promise.get_future();
    post([a, sup = e->supervisor, msg = std::move(msg), timeout](caf::event_based_actor* self) {
      self->request(caf::actor_cast<caf::actor>(sup), timeout, msg)
        .then([a](T& x) { a->give(std::move(x)); },
              [a](caf::error& err) {
                a->give(make_error(errc::not_running,
                                   "the supervisor did not answer: " + caf::to_string(err)));
              });
    });
    a.reset(); // the job and its handlers hold it now
    return future.get();
  }

  /// `ask` with a fallback for the pool queries that cannot fail visibly.
  template <class T>
  T ask_supervisor(T fallback, caf::message msg) const {
    auto r = ask<T>(std::move(msg), std::chrono::minutes(10));
    return r ? std::move(r).value() : std::move(fallback);
  }
};

} // namespace pyactor
