// runtime_service: the calls, each through the runtime's callback API.
#include "runtime_service.hpp"

#include <memory>
#include <mutex>

namespace pyactor::erlbridge {

uint64_t runtime_service::starmap(bridge_request req, completion done) {
  // One callback call per item; the last one to finish delivers the list.
  // The returned handle names the group: cancelling it cancels every item.
  struct gather {
    std::mutex mtx;
    std::vector<value> results;
    size_t left = 0;
    completion done;
  };
  auto n = req.items.size();
  if (n == 0) {
    done(value{list{}});
    return 0;
  }
  uint64_t group;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    group = group_bit | next_group_++;
    groups_[group]; // filled below, before anyone can know the handle
  }
  auto g = std::make_shared<gather>();
  g->results.resize(n);
  g->left = n;
  g->done = [this, group, done = std::move(done)](result<value> r) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      groups_.erase(group);
    }
    done(std::move(r));
  };
  std::vector<uint64_t> ids;
  ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    ids.push_back(rt_.call_async(req.module, req.name, std::move(req.items[i]), {}, req.opts,
                                 [g, i](result<value> r) {
                                   completion finish;
                                   {
                                     std::lock_guard<std::mutex> guard{g->mtx};
                                     g->results[i] = item_outcome(r);
                                     if (--g->left == 0)
                                       finish = std::move(g->done);
                                   }
                                   if (finish)
                                     finish(value{list(std::move(g->results))});
                                 }));
  }
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = groups_.find(group); i != groups_.end()) {
    i->second = std::move(ids);
    return group;
  }
  return 0; // every item finished already
}

uint64_t runtime_service::submit_call(bridge_request req, completion done) {
  auto& o = req.opts;
  switch (req.kind) {
    case request_kind::func:
      return rt_.call_async(req.module, req.name, std::move(req.args), std::move(req.kwargs), o,
                            std::move(done));
    case request_kind::init:
      return rt_.create_async(req.module, req.name, std::move(req.args), std::move(req.kwargs),
                              o, std::move(done));
    case request_kind::constant:
      return rt_.constant_async(req.module, req.name, req.cast, o, std::move(done));
    case request_kind::method:
      return rt_.method_async(req.target, req.name, std::move(req.args), std::move(req.kwargs),
                              o, std::move(done));
    case request_kind::attr:
      return rt_.attr_async(req.target, req.name, o, std::move(done));
    case request_kind::builtin:
      return rt_.builtin_async(req.name, std::move(req.args), std::move(req.kwargs), o,
                               std::move(done));
    case request_kind::op:
      return rt_.op_async(req.name, std::move(req.args), o, std::move(done));
    case request_kind::eval:
      return rt_.eval_async(req.name, std::move(req.kwargs), o, std::move(done));
    case request_kind::exec:
      return rt_.exec_async(req.name, o, std::move(done));
    case request_kind::versions:
      return rt_.versions_async(o, std::move(done));
    case request_kind::release:
      return rt_.release_async(req.target, std::move(done));
    case request_kind::broadcast: {
      broadcast_options bo;
      bo.timeout = o.timeout;
      return rt_.broadcast_async(req.module, req.name, std::move(req.args),
                                 std::move(req.kwargs), bo,
                                 [done = std::move(done)](std::vector<worker_reply> replies) {
                                   list out;
                                   for (auto& w : replies)
                                     out.push_back(tuple{{static_cast<unsigned long>(w.worker),
                                                          item_outcome(w.outcome)}});
                                   done(value{std::move(out)});
                                 });
    }
    case request_kind::batch:
      return rt_.batch_async(req.calls, o,
                             [done = std::move(done)](std::vector<result<value>> results) {
                               list out;
                               for (auto& r : results)
                                 out.push_back(item_outcome(r));
                               done(value{std::move(out)});
                             });
    default:
      done(make_error(errc::bad_request, std::string{"not a call: "} + to_string(req.kind)));
      return 0;
  }
}

void runtime_service::cancel(uint64_t handle) {
  if ((handle & group_bit) == 0) {
    rt_.cancel(handle);
    return;
  }
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = groups_.find(handle);
    if (i == groups_.end())
      return;
    ids = i->second;
  }
  for (auto id : ids)
    rt_.cancel(id); // each item's result becomes `cancelled`; the list still comes
}

} // namespace pyactor::erlbridge
