// The calls of the C++ API: how one call is registered, sent, cancelled,
// and answered exactly once (also across a shutdown).
#include <algorithm>
#include <condition_variable>
#include <utility>

#include "runtime_impl.hpp"

#include "actors/call_lane.hpp"

namespace pyactor {

using actors::call_atom_v;
using actors::call_request;
using actors::cancel_atom_v;
using actors::reply_sink;
using client::body_builder;
using client::completion_callback;
using worker::op;

namespace {

const std::vector<std::string> builtins_list = {
  "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
  "complex", "dict", "dir", "divmod", "enumerate", "filter", "float", "format", "frozenset",
  "getattr", "hasattr", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len",
  "list", "map", "max", "min", "next", "object", "oct", "ord", "pow", "range", "repr",
  "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "type", "vars", "zip"};

const std::vector<std::string> operators_list = {
  "lt", "le", "eq", "ne", "ge", "gt", "not_", "truth", "is_", "is_not", "add", "floordiv",
  "index", "mod", "mul", "neg", "pos", "sub", "truediv", "and_", "inv", "invert", "lshift",
  "or_", "rshift", "xor", "concat", "contains", "countOf", "getitem", "indexOf", "length_hint"};

/// The worker this thread's last direct call went to (see `direct_target`).
thread_local uint64_t warm_uid = 0;

bool known(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<char> release_body(uint64_t object_id) {
  return body_builder{op::release, 1}.args(list{value{object_id}}).take();
}

} // namespace

// -- cross-worker calls -------------------------------------------------------------------

namespace client {

/// A call whose arguments hold objects of several workers: copies each
/// foreign object to the first owner (`pickle.dumps` on its owner, then
/// `pickle.loads` at home), runs the call there, and releases the copies.
/// Every step is an ordinary call started from the previous one's callback,
/// so no thread waits; the outer call has its own id in the call table, and
/// cancelling it cancels the step in flight.
class cross_call : public std::enable_shared_from_this<cross_call> {
public:
  cross_call(runtime::impl& rt, uint64_t home, value target, list args, dict kwargs,
             call_options opts, std::string affinity_key, runtime::impl::body_function build)
    : rt_(rt), home_(home), target_(std::move(target)), args_(std::move(args)),
      kwargs_(std::move(kwargs)), opts_(opts), affinity_key_(std::move(affinity_key)),
      build_(std::move(build)) {
    collect_foreign(target_, home_, foreign_);
    for (auto& a : args_)
      collect_foreign(a, home_, foreign_);
    for (auto& kv : kwargs_.items)
      collect_foreign(kv.second, home_, foreign_);
  }

  /// Registers the outer call and starts the first step; returns its id.
  uint64_t start(completion_callback done) {
    auto self = shared_from_this();
    auto t = rt_.calls->add(std::move(done), [self] { self->rt_.cancel(self->step_.load()); });
    if (!t.open)
      return t.id;
    id_ = t.id;
    next();
    return id_;
  }

private:
  /// Copies the next foreign object, or runs the call once all are home.
  void next() {
    if (!rt_.calls->pending(id_)) { // cancelled, or the runtime stops
      release_copies();
      return;
    }
    if (copied_ == foreign_.size()) {
      run();
      return;
    }
    auto self = shared_from_this();
    const auto& ref = foreign_[copied_];
    step(rt_.submit_one(
      body_builder{op::func, 5}.text("pickle").text("dumps").args({value{ref}}).kwargs({})
        .flag(false).take(),
      opts_, ref.worker_uid, {}, [self](result<value> dumped) { self->on_dumped(std::move(dumped)); }));
  }

  void on_dumped(result<value> dumped) {
    const auto& ref = foreign_[copied_];
    if (!dumped) {
      fail(make_error(errc::cross_worker_ref,
                      "the " + ref.type_name + " object #" + std::to_string(ref.object_id)
                        + " lives in another worker and cannot be pickled to move it: "
                        + dumped.error().to_string()));
      return;
    }
    auto self = shared_from_this();
    step(rt_.submit_one(body_builder{op::func, 5}.text("pickle").text("loads")
                          .args({std::move(dumped).value()}).kwargs({}).flag(true).take(),
                        opts_, home_, {}, [self](result<value> copy) { self->on_copied(std::move(copy)); }));
  }

  void on_copied(result<value> copy) {
    if (!copy) {
      fail(copy.error());
      return;
    }
    copies_.emplace_back(foreign_[copied_], std::move(copy).value());
    ++copied_;
    next();
  }

  void run() {
    dict kw;
    for (auto& kv : kwargs_.items)
      kw.items.emplace_back(kv.first, substitute(kv.second, copies_));
    std::vector<char> body;
    try {
      body = build_(substitute(target_, copies_), substitute(value{args_}, copies_).as<list>(), kw);
    } catch (const codec::encode_error& e) { // too deep or too big: never sent
      fail(make_error(errc::bad_request, e.what()));
      return;
    }
    auto self = shared_from_this();
    step(rt_.submit_one(std::move(body), opts_, home_, affinity_key_, [self](result<value> r) {
      self->rt_.calls->finish(self->id_, std::move(r));
      self->release_copies();
    }));
  }

  void fail(error e) {
    rt_.calls->finish(id_, std::move(e));
    release_copies();
  }

  /// The copies were only for this call.
  void release_copies() {
    for (auto& c : copies_)
      rt_.submit_one(release_body(c.second.as<object_ref>().object_id), {}, home_, {}, nullptr);
    copies_.clear();
  }

  /// Remembers the step in flight, for cancel; cancels it at once if the
  /// outer call was cancelled before the step had an id.
  void step(uint64_t id) {
    step_.store(id);
    if (!rt_.calls->pending(id_))
      rt_.cancel(id);
  }

  runtime::impl& rt_;
  uint64_t id_ = 0;
  uint64_t home_;
  value target_;
  list args_;
  dict kwargs_;
  call_options opts_;
  std::string affinity_key_;
  runtime::impl::body_function build_;
  std::vector<object_ref> foreign_;
  size_t copied_ = 0;
  std::vector<std::pair<object_ref, value>> copies_;
  std::atomic<uint64_t> step_{0};
};

thread_local lead_request* lead_request::current = nullptr;

result<uint32_t> timeout_of(const call_options& opts) {
  auto ms = opts.timeout.count();
  if (ms < 0)
    return make_error(errc::bad_request,
                      "call_options::timeout is " + std::to_string(ms)
                        + " ms: it must be positive, or 0 for the runtime's default timeout");
  return static_cast<uint32_t>(std::min<int64_t>(ms, std::numeric_limits<uint32_t>::max()));
}

} // namespace client

// -- impl ---------------------------------------------------------------------------------

void call_handle::canceller::cancel(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx};
  if (rt != nullptr)
    rt->cancel(id);
}

void runtime::impl::shutdown() {
  {
    std::lock_guard<std::mutex> guard{canceller->mtx};
    canceller->rt = nullptr;
  }
  if (calls)
    calls->close(); // every pending call gets not_running, here
  auto e = std::atomic_exchange(&ends_, std::shared_ptr<const endpoints>{});
  if (e) {
    caf::anon_send_exit(e->supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(e->scheduler, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(e->client, caf::exit_reason::user_shutdown);
    e.reset();
  }
  routes->close(); // else a late publish keeps lanes, and the log actor, alive: sys.reset() hangs
  sys.reset(); // waits until every actor (and so every worker process) is gone
}

void runtime::impl::post(std::function<void(caf::event_based_actor*)> job) const {
  if (auto e = ends())
    caf::anon_send(e->client, client::client_job{std::move(job)});
}

uint64_t runtime::impl::refuse(completion_callback done, error e) {
  auto t = calls->add(std::move(done));
  if (t.open)
    post([table = calls, id = t.id, e = std::move(e)](caf::event_based_actor*) {
      table->finish(id, e);
    });
  return t.id;
}

void runtime::impl::cancel(uint64_t id) {
  auto e = ends();
  if (!e || id == 0)
    return;
  post([table = calls, id, scheduler = e->scheduler](caf::event_based_actor* self) {
    if (table->cancel(id)) // the caller has `cancelled`; now stop the work
      self->send(scheduler, cancel_atom_v, id);
  });
}

uint64_t runtime::impl::submit_one(std::vector<char> body, const call_options& opts,
                                   uint64_t owner_uid, std::string affinity_key,
                                   completion_callback done) {
  if (auto refused = client::oversized_body(body.size()))
    return refuse(std::move(done), *refused);
  auto timeout = client::timeout_of(opts);
  if (!timeout)
    return refuse(std::move(done), timeout.error());
  auto t = calls->add(std::move(done));
  if (!t.open)
    return t.id;
  auto e = ends();
  if (!e) { // shutdown closed the table after our add: it answered the call
    calls->finish(t.id, make_error(errc::not_running, "the runtime is shutting down"));
    return t.id;
  }
  call_request req;
  req.body = std::move(body);
  req.timeout_ms = timeout.value();
  req.pin_slot = opts.worker;
  req.owner_uid = owner_uid;
  req.request_id = t.id;
  req.affinity_key = std::move(affinity_key);
  auto completion = std::make_shared<client::table_completion>(calls, t.id);
  // Only the first call of a blocking caller may lead (cross-worker steps
  // and calls sent from callbacks do not).
  auto* lead = std::exchange(client::lead_request::current, nullptr);
  if (auto target = direct_target(req)) {
    reply_sink sink{completion};
    // The lane: this thread writes the call to the process itself.
    bool leads = false;
    // A thread with its own poll loop may read the reply there (reply_reader).
    auto* poller = lead == nullptr ? reply_reader::impl::offered : nullptr;
    if (target->lane
        && (poller != nullptr ? target->lane->try_call_polled(req, sink, &leads)
                              : target->lane->try_call(req, sink,
                                                       lead != nullptr ? &leads : nullptr))) {
      if (leads && poller != nullptr)
        poller->lanes.push_back(target->lane); // its poll loop reads this lane now
      else if (leads)
        lead->lane = target->lane; // the caller reads its reply itself (it must lead now)
      return t.id;
    }
    if (req.body.size() <= direct_body_limit) {
      completion->retry = req; // small: kept in case the worker is gone
      completion->scheduler = e->scheduler;
      if (target->lane)
        target->lane->note_queued(req.request_id); // later lane calls wait behind it
      caf::anon_send(target->actor, call_atom_v, std::move(req), std::move(sink));
      return t.id;
    }
  }
  caf::anon_send(e->scheduler, call_atom_v, std::move(req), reply_sink{std::move(completion)});
  return t.id;
}

template <class Build>
uint64_t runtime::impl::submit(const value& target, list args, dict kwargs,
                               const call_options& opts, std::string affinity_key, Build build,
                               completion_callback done) {
  std::vector<uint64_t> owners;
  client::collect_owners(target, owners);
  for (auto& a : args)
    client::collect_owners(a, owners);
  for (auto& kv : kwargs.items)
    client::collect_owners(kv.second, owners);
  if (owners.size() <= 1) {
    std::vector<char> body;
    try {
      body = build(target, args, kwargs);
    } catch (const codec::encode_error& e) { // too deep or too big: never sent
      return refuse(std::move(done), make_error(errc::bad_request, e.what()));
    }
    return submit_one(std::move(body), opts, owners.empty() ? 0 : owners.front(),
                      std::move(affinity_key), std::move(done));
  }
  return submit_cross(target, std::move(args), std::move(kwargs), opts, std::move(affinity_key),
                      owners.front(), body_function{std::move(build)}, std::move(done));
}

uint64_t runtime::impl::submit_cross(const value& target, list args, dict kwargs,
                                     const call_options& opts, std::string affinity_key,
                                     uint64_t first, body_function build,
                                     completion_callback done) {
  if (auto timeout = client::timeout_of(opts); !timeout)
    return refuse(std::move(done), timeout.error());
  auto call = std::make_shared<client::cross_call>(*this, first, target, std::move(args),
                                                   std::move(kwargs), opts,
                                                   std::move(affinity_key), std::move(build));
  return call->start(std::move(done));
}

std::shared_ptr<const actors::worker_entry>
runtime::impl::direct_target(const call_request& req) {
  auto snap = routes->load();
  const actors::worker_entry* found = nullptr;
  if (req.owner_uid != 0) {
    for (auto& w : *snap)
      if (w.uid == req.owner_uid)
        found = &w;
  } else if (req.pin_slot != actors::any_worker) {
    for (auto& w : *snap)
      if (w.slot == req.pin_slot)
        found = &w;
  } else if (direct_least_loaded && !snap->empty()) {
    // A thread's calls stay on the worker it used last while that worker's
    // lane is idle (nothing in flight): calls made one at a time then run
    // on one warm process. Switching between two idle workers cost ~4.5 us
    // per blocking call here (26-29 vs 21-22 us median, same sitting): the
    // kernel switches to a process whose caches and TLB are cold. Otherwise
    // the least loaded by the scheduler's counts, ties rotating, as before.
    // The rotation then moves past the warm worker, so a burst of calls
    // still spreads over the pool (the next one starts at its neighbour).
    auto& workers = *snap;
    for (size_t i = 0; i < workers.size(); ++i)
      if (workers[i].uid == warm_uid && workers[i].lane && workers[i].lane->idle()) {
        found = &workers[i];
        rotation.store(i + 1, std::memory_order_relaxed);
        break;
      }
    if (found == nullptr) {
      found = &workers[actors::pick_least_loaded(
        workers.size(), rotation.fetch_add(1, std::memory_order_relaxed),
        [&](size_t i) { return workers[i].load->load(std::memory_order_relaxed); })];
      warm_uid = found->uid;
    }
  }
  if (found == nullptr)
    return nullptr;
  return std::shared_ptr<const actors::worker_entry>(snap, found); // keeps the snapshot alive
}

// -- calls with a callback ----------------------------------------------------------------

uint64_t runtime::call_async(const std::string& module, const std::string& function, list args,
                             dict kwargs, const call_options& opts, completion_callback on_done) {
  return impl_->submit(value{}, std::move(args), std::move(kwargs), opts,
                       impl_->affinity_key(module, function),
                       [=](const value&, const list& a, const dict& kw) {
                         return body_builder{op::func, 5}.text(module).text(function).args(a)
                           .kwargs(kw).flag(opts.by_ref).take();
                       },
                       std::move(on_done));
}

uint64_t runtime::constant_async(const std::string& module, const std::string& name,
                                 const std::string& cast, const call_options& opts,
                                 completion_callback on_done) {
  if (!cast.empty() && cast != "int" && cast != "float" && cast != "str")
    return impl_->refuse(std::move(on_done),
                         make_error(errc::bad_request, "constant: cast must be \"\", \"int\", "
                                                       "\"float\" or \"str\", got \""
                                                         + cast + "\""));
  return impl_->submit(value{}, {}, {}, opts, impl_->affinity_key(module, name),
                       [=](const value&, const list&, const dict&) {
                         return body_builder{op::constant, 3}.text(module).text(name).text(cast)
                           .take();
                       },
                       std::move(on_done));
}

uint64_t runtime::create_async(const std::string& module, const std::string& class_name,
                               list args, dict kwargs, const call_options& opts,
                               completion_callback on_done) {
  return impl_->submit(value{}, std::move(args), std::move(kwargs), opts,
                       impl_->affinity_key(module, class_name),
                       [=](const value&, const list& a, const dict& kw) {
                         return body_builder{op::init, 5}.text(module).text(class_name).args(a)
                           .kwargs(kw).flag(opts.by_ref).take();
                       },
                       std::move(on_done));
}

uint64_t runtime::method_async(const value& target, const std::string& name, list args,
                               dict kwargs, const call_options& opts, completion_callback on_done) {
  return impl_->submit(target, std::move(args), std::move(kwargs), opts, {},
                       [=](const value& t, const list& a, const dict& kw) {
                         return body_builder{op::method, 5}.item(t).text(name).args(a).kwargs(kw)
                           .flag(opts.by_ref).take();
                       },
                       std::move(on_done));
}

uint64_t runtime::attr_async(const value& target, const std::string& name,
                             const call_options& opts, completion_callback on_done) {
  return impl_->submit(target, {}, {}, opts, {},
                       [=](const value& t, const list&, const dict&) {
                         return body_builder{op::attr, 3}.item(t).text(name).flag(opts.by_ref)
                           .take();
                       },
                       std::move(on_done));
}

uint64_t runtime::eval_async(const std::string& expression, dict locals,
                             const call_options& opts, completion_callback on_done) {
  return impl_->submit(value{}, {}, std::move(locals), opts, {},
                       [=](const value&, const list&, const dict& kw) {
                         return body_builder{op::eval, 2}.text(expression).kwargs(kw).take();
                       },
                       std::move(on_done));
}

uint64_t runtime::exec_async(const std::string& code, const call_options& opts,
                             completion_callback on_done) {
  return impl_->submit(value{}, {}, {}, opts, {},
                       [=](const value&, const list&, const dict&) {
                         return body_builder{op::exec, 1}.text(code).take();
                       },
                       std::move(on_done));
}

uint64_t runtime::builtin_async(const std::string& name, list args, dict kwargs,
                                const call_options& opts, completion_callback on_done) {
  if (!known(builtins_list, name))
    return impl_->refuse(std::move(on_done),
                         make_error(errc::bad_request,
                                    "'" + name + "' is not one of the Python 3 builtins pyactor "
                                                 "offers (see runtime::builtin_names())"));
  return call_async("builtins", name, std::move(args), std::move(kwargs), opts,
                    std::move(on_done));
}

uint64_t runtime::op_async(const std::string& name, list args, const call_options& opts,
                           completion_callback on_done) {
  if (!known(operators_list, name))
    return impl_->refuse(std::move(on_done),
                         make_error(errc::bad_request,
                                    "'" + name + "' is not one of the operator functions pyactor "
                                                 "offers (see runtime::operator_names())"));
  return call_async("operator", name, std::move(args), {}, opts, std::move(on_done));
}

uint64_t runtime::versions_async(const call_options& opts, completion_callback on_done) {
  return impl_->submit_one(body_builder{op::versions, 0}.take(), opts, 0, {}, std::move(on_done));
}

uint64_t runtime::release_async(const value& ref, completion_callback on_done) {
  auto r = ref.get_if<object_ref>();
  if (r == nullptr)
    return impl_->refuse(std::move(on_done),
                         make_error(errc::bad_request, "release needs an object reference, got a "
                                                         + ref.type_name()));
  return impl_->submit_one(release_body(r->object_id), {}, r->worker_uid, {}, std::move(on_done));
}

void runtime::cancel(uint64_t call_id) {
  impl_->cancel(call_id);
}

// -- calls with a handle ------------------------------------------------------------------

runtime::future runtime::call_async(const std::string& module, const std::string& function,
                                    list args, dict kwargs, const call_options& opts) {
  return impl_->make_handle([&](completion_callback done) {
    return call_async(module, function, std::move(args), std::move(kwargs), opts, std::move(done));
  });
}

runtime::future runtime::constant_async(const std::string& module, const std::string& name,
                                        const std::string& cast, const call_options& opts) {
  return impl_->make_handle([&](completion_callback done) {
    return constant_async(module, name, cast, opts, std::move(done));
  });
}

runtime::future runtime::create_async(const std::string& module, const std::string& class_name,
                                      list args, dict kwargs, const call_options& opts) {
  return impl_->make_handle([&](completion_callback done) {
    return create_async(module, class_name, std::move(args), std::move(kwargs), opts,
                        std::move(done));
  });
}

runtime::future runtime::method_async(const value& target, const std::string& name, list args,
                                      dict kwargs, const call_options& opts) {
  return impl_->make_handle([&](completion_callback done) {
    return method_async(target, name, std::move(args), std::move(kwargs), opts, std::move(done));
  });
}

runtime::future runtime::attr_async(const value& target, const std::string& name,
                                    const call_options& opts) {
  return impl_->make_handle(
    [&](completion_callback done) { return attr_async(target, name, opts, std::move(done)); });
}

runtime::future runtime::eval_async(const std::string& expression, dict locals,
                                    const call_options& opts) {
  return impl_->make_handle([&](completion_callback done) {
    return eval_async(expression, std::move(locals), opts, std::move(done));
  });
}

// -- blocking calls -----------------------------------------------------------------------

namespace {

/// What a blocking call's callback and its waiting thread share.
struct blocking_wait {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> answered{false};
  std::optional<result<value>> r;
  std::shared_ptr<actors::call_lane> lane; // set while the caller leads
};

/// Runs `submit` with a callback and waits for its result. If the call went
/// through a worker's lane and the reader token was free, this thread reads
/// the channel itself until the reply is there (two wake-ups: the worker's
/// and this thread's); otherwise it sleeps until whoever reads completes it.
template <class Submit>
result<value> wait_for_result(runtime::impl&, Submit&& submit) {
  auto w = std::make_shared<blocking_wait>();
  client::lead_request req;
  struct offer {
    explicit offer(client::lead_request* r) { client::lead_request::current = r; }
    ~offer() { client::lead_request::current = nullptr; }
  };
  {
    offer scope{&req};
    submit([w](result<value> r) {
    std::shared_ptr<actors::call_lane> lane;
    {
      std::lock_guard<std::mutex> guard{w->mtx};
      w->r = std::move(r);
      w->done = true;
      w->answered.store(true);
      lane = w->lane;
    }
    if (lane)
      lane->wake_leader(); // answered on another thread
    w->cv.notify_one();
    });
  }
  if (req.lane) {
    {
      std::lock_guard<std::mutex> guard{w->mtx};
      w->lane = req.lane;
    }
    req.lane->lead([&] { return w->answered.load(); });
  }
  std::unique_lock<std::mutex> guard{w->mtx};
  w->cv.wait(guard, [&] { return w->done; });
  w->lane.reset();
  return std::move(*w->r);
}

} // namespace

result<value> runtime::call(const std::string& module, const std::string& function, list args,
                            dict kwargs, const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return call_async(module, function, std::move(args), std::move(kwargs), opts, std::move(done));
  });
}

result<value> runtime::constant(const std::string& module, const std::string& name,
                                const std::string& cast, const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return constant_async(module, name, cast, opts, std::move(done));
  });
}

result<value> runtime::create(const std::string& module, const std::string& class_name,
                              list args, dict kwargs, const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return create_async(module, class_name, std::move(args), std::move(kwargs), opts, std::move(done));
  });
}

result<value> runtime::method(const value& target, const std::string& name, list args,
                              dict kwargs, const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return method_async(target, name, std::move(args), std::move(kwargs), opts, std::move(done));
  });
}

result<value> runtime::attr(const value& target, const std::string& name,
                            const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return attr_async(target, name, opts, std::move(done));
  });
}

result<value> runtime::eval(const std::string& expression, dict locals,
                            const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return eval_async(expression, std::move(locals), opts, std::move(done));
  });
}

result<value> runtime::exec(const std::string& code, const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return exec_async(code, opts, std::move(done));
  });
}

result<value> runtime::builtin(const std::string& name, list args, dict kwargs,
                               const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return builtin_async(name, std::move(args), std::move(kwargs), opts, std::move(done));
  });
}

result<value> runtime::op(const std::string& name, list args, const call_options& opts) {
  return wait_for_result(*impl_, [&](completion_callback done) {
    return op_async(name, std::move(args), opts, std::move(done));
  });
}

result<value> runtime::versions(const call_options& opts) {
  return wait_for_result(
    *impl_, [&](completion_callback done) { return versions_async(opts, std::move(done)); });
}

result<value> runtime::release(const value& ref) {
  return wait_for_result(*impl_,
                         [&](completion_callback done) { return release_async(ref, std::move(done)); });
}

const std::vector<std::string>& runtime::builtin_names() {
  return builtins_list;
}

const std::vector<std::string>& runtime::operator_names() {
  return operators_list;
}

} // namespace pyactor
