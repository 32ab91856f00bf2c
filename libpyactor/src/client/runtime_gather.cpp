// Calls answered together: broadcast (one call per worker) and batch
// (several calls in one message), each with a callback or blocking.
#include <mutex>

#include "runtime_impl.hpp"

namespace pyactor {

using client::body_builder;
using client::completion_callback;
using worker::op;

namespace {

/// Turns one entry [status, payload] of a batch reply into a result.
result<value> entry_result(const value& entry) {
  auto fields = entry.get_if<list>();
  if (fields == nullptr || fields->size() != 2 || !(*fields)[0].is<int64_t>())
    return make_error(errc::bad_request, "malformed entry in a batch reply");
  auto status = static_cast<uint8_t>((*fields)[0].as<int64_t>());
  if (status == 0)
    return (*fields)[1];
  return actors::error_from_details(static_cast<errc>(actors::reply_code_of(status)),
                                    (*fields)[1]);
}

/// Splits a whole-reply result into `n` per-entry results.
std::vector<result<value>> entry_results(const result<value>& reply, size_t n) {
  std::vector<result<value>> out;
  out.reserve(n);
  auto entries = reply ? reply.value().get_if<list>() : nullptr;
  if (!reply || entries == nullptr || entries->size() != n) {
    auto e = reply ? make_error(errc::bad_request, "the worker answered " + reply.value().type_name()
                                                     + " where one entry per item was expected")
                   : reply.error();
    for (size_t i = 0; i < n; ++i)
      out.emplace_back(e);
    return out;
  }
  for (auto& entry : *entries)
    out.push_back(entry_result(entry));
  return out;
}

/// The replies of one broadcast as they come in; the last one hands all
/// of them to the caller.
struct gather {
  std::mutex mtx;
  std::vector<worker_reply> replies;
  std::vector<uint64_t> calls; // the call per worker, for cancel
  size_t remaining = 0;
  uint64_t id = 0; // the broadcast's own entry in the call table
  std::function<void(std::vector<worker_reply>)> done;
};

} // namespace

namespace {

/// Sends the broadcast's call to every worker of `targets`; the last reply
/// hands them all to the caller.
void launch(runtime& rt, std::shared_ptr<client::call_table> table, std::shared_ptr<gather> g,
            const std::vector<uint64_t>& targets, const std::string& module,
            const std::string& function, const list& args, const dict& kwargs,
            const broadcast_options& opts) {
  {
    std::lock_guard<std::mutex> guard{g->mtx};
    g->remaining = targets.size();
    for (auto slot : targets)
      g->replies.push_back(worker_reply{slot, make_error(errc::not_running, "not answered")});
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    call_options pinned;
    pinned.worker = targets[i];
    pinned.timeout = opts.timeout;
    auto id = rt.call_async(module, function, args, kwargs, pinned, [g, i, table](result<value> r) {
      bool last;
      {
        std::lock_guard<std::mutex> guard{g->mtx};
        g->replies[i].outcome = std::move(r);
        last = --g->remaining == 0;
      }
      if (!last)
        return;
      table->finish(g->id, value{}); // drops the broadcast's own entry
      table->guarded(g->id, [&] { g->done(std::move(g->replies)); });
    });
    std::lock_guard<std::mutex> guard{g->mtx};
    g->calls.push_back(id);
  }
}

} // namespace

uint64_t runtime::broadcast_async(const std::string& module, const std::string& function,
                                  list args, dict kwargs, const broadcast_options& opts,
                                  std::function<void(std::vector<worker_reply>)> on_done) {
  std::vector<uint64_t> targets = opts.workers;
  if (targets.empty() && !impl_->connected) // every live worker, as the scheduler last published them
    for (auto& w : *impl_->routes->load())
      targets.push_back(w.slot);
  auto g = std::make_shared<gather>();
  g->done = std::move(on_done);
  auto table = impl_->calls;
  // The broadcast's own entry only carries cancel to the calls it is made
  // of; the caller's callback runs when the last of them is answered.
  auto cancel_all = [g, rt = impl_.get()] {
    std::vector<uint64_t> ids;
    {
      std::lock_guard<std::mutex> guard{g->mtx};
      ids = g->calls;
    }
    for (auto id : ids)
      rt->cancel(id);
  };
  if (targets.empty() && impl_->connected) {
    // Every ready worker of every node: the head knows them. Ask it on the
    // client actor (no thread waits), then send the calls.
    auto t = table->add(nullptr, cancel_all);
    g->id = t.id;
    if (!t.open)
      return t.id;
    // Until the calls are out, this answers the caller (an empty list) if
    // the broadcast is cancelled, no worker is ready, the head does not
    // answer, or the job is dropped because the runtime stops.
    struct not_launched {
      std::shared_ptr<gather> g;
      std::shared_ptr<client::call_table> table;
      bool launched = false;
      ~not_launched() {
        if (launched)
          return;
        table->finish(g->id, value{});
        table->guarded(g->id, [&] {
          if (g->done)
            g->done({});
        });
      }
    };
    auto pending = std::make_shared<not_launched>();
    pending->g = g;
    pending->table = table;
    auto e = impl_->ends(); // null once stopping: post drops the job, ~not_launched answers
    actors::supervisor_actor sup = e ? e->supervisor : actors::supervisor_actor{};
    impl_->post([this, pending, module, function, args = std::move(args),
                 kwargs = std::move(kwargs), opts, sup](caf::event_based_actor* self) {
      self->request(caf::actor_cast<caf::actor>(sup), std::chrono::seconds(30),
                    actors::status_atom_v)
        .then(
          [=](std::vector<actors::worker_status>& workers) {
            std::vector<uint64_t> ready;
            for (auto& w : workers)
              if (w.state == "ready")
                ready.push_back(w.slot);
            if (!pending->table->pending(pending->g->id) || ready.empty())
              return; // cancelled, stopping, or no worker: ~not_launched answers
            pending->launched = true;
            launch(*this, pending->table, pending->g, ready, module, function, args, kwargs, opts);
          },
          [pending](caf::error&) {});
    });
    return t.id;
  }
  if (targets.empty()) // nothing to wait for: answer on the client actor
    return impl_->refuse([g](result<value>) { g->done({}); },
                         make_error(errc::no_workers, "no live worker"));
  auto t = table->add(nullptr, cancel_all);
  g->id = t.id;
  launch(*this, table, g, targets, module, function, args, kwargs, opts);
  return t.id;
}

std::vector<worker_reply> runtime::broadcast(const std::string& module,
                                             const std::string& function, list args, dict kwargs,
                                             const broadcast_options& opts) {
  std::promise<std::vector<worker_reply>> promise;
  auto future = promise.get_future();
  broadcast_async(module, function, std::move(args), std::move(kwargs), opts,
                  [&promise](std::vector<worker_reply> replies) {
                    promise.set_value(std::move(replies));
                  });
  return future.get();
}

uint64_t runtime::batch_async(const std::vector<batch_call>& calls, const call_options& opts,
                              std::function<void(std::vector<result<value>>)> on_done) {
  auto n = calls.size();
  auto split = [n, on_done = std::move(on_done)](result<value> reply) {
    if (on_done)
      on_done(entry_results(reply, n));
  };
  std::vector<uint64_t> owners;
  for (auto& c : calls) {
    for (auto& a : c.args)
      client::collect_owners(a, owners);
    for (auto& kv : c.kwargs.items)
      client::collect_owners(kv.second, owners);
  }
  if (owners.size() > 1)
    return impl_->refuse(std::move(split),
                         make_error(errc::cross_worker_ref,
                                    "a batch runs on one worker, but its calls use objects of "
                                      + std::to_string(owners.size()) + " workers"));
  body_builder body{op::batch, 1};
  body.array(static_cast<uint32_t>(calls.size()));
  for (size_t i = 0; i < calls.size(); ++i) {
    auto& c = calls[i];
    try {
      body.raw(body_builder{op::func, 5}.text(c.module).text(c.function).args(c.args)
                 .kwargs(c.kwargs).flag(opts.by_ref).take());
    } catch (const codec::encode_error& e) { // nothing was sent
      return impl_->refuse(std::move(split),
                           make_error(errc::bad_request, "call " + std::to_string(i)
                                                           + " of the batch: " + e.what()));
    }
  }
  return impl_->submit_one(body.take(), opts, owners.empty() ? 0 : owners.front(), {},
                           std::move(split));
}

std::vector<result<value>> runtime::batch(const std::vector<batch_call>& calls,
                                          const call_options& opts) {
  std::promise<std::vector<result<value>>> promise;
  auto future = promise.get_future();
  batch_async(calls, opts, [&promise](std::vector<result<value>> results) {
    promise.set_value(std::move(results));
  });
  return future.get();
}

} // namespace pyactor
