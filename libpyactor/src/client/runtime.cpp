#include "pyactor/runtime.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "python_check.hpp"
#include "runtime_impl.hpp"

namespace pyactor {

using namespace pyactor::actors;
using namespace pyactor::client;
using worker::op;


namespace {

bool executable(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

std::string self_dir() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return ".";
  std::string path{buf, static_cast<size_t>(n)};
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

result<std::string> find_worker_executable(const runtime_options& options) {
  std::vector<std::string> tried;
  auto consider = [&](const std::string& path) {
    tried.push_back(path);
    return executable(path);
  };
  if (!options.worker_executable.empty()) {
    if (consider(options.worker_executable))
      return options.worker_executable;
    return make_error(errc::bad_request, "worker-executable '" + options.worker_executable
                                           + "' is not an executable file");
  }
  if (auto env = std::getenv("PYACTOR_WORKER"); env != nullptr && *env != '\0') {
    if (consider(env))
      return std::string{env};
    return make_error(errc::bad_request,
                      std::string{"PYACTOR_WORKER='"} + env + "' is not an executable file");
  }
  for (auto& dir : {self_dir(), std::string{PYACTOR_BUILD_BIN_DIR}})
    if (consider(dir + "/pyactor-worker"))
      return dir + "/pyactor-worker";
  std::string list;
  for (auto& t : tried)
    list += (list.empty() ? "" : ", ") + t;
  return make_error(errc::bad_request, "cannot find pyactor-worker (looked at " + list
                                         + "): set worker-executable in [pyactor] or PYACTOR_WORKER");
}

void log_to_stderr(const std::string& line) {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  std::fprintf(stderr, "%s\n", line.c_str());
}

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

bool known(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

} // namespace

// -- call_handle ----------------------------------------------------------------------

result<value> call_handle::get() {
  if (!future_.valid())
    return make_error(errc::bad_request, "call_handle::get: no result (empty or already taken)");
  return future_.get();
}

bool call_handle::ready() const {
  return wait_for(std::chrono::milliseconds(0));
}

bool call_handle::wait_for(std::chrono::milliseconds timeout) const {
  return future_.valid() && future_.wait_for(timeout) == std::future_status::ready;
}

void call_handle::cancel() {
  if (canceller_ && id_ != 0 && !ready())
    canceller_->cancel(id_);
}

// -- impl ---------------------------------------------------------------------------

runtime::runtime(std::unique_ptr<impl> pimpl) : impl_(std::move(pimpl)) {
  // nop
}

runtime::~runtime() = default;

result<std::unique_ptr<runtime>> runtime::start(runtime_options options) {
  if (auto ok = options.validate(); !ok)
    return ok.error();
  auto exe = find_worker_executable(options);
  if (!exe)
    return exe.error();
  if (!options.python.empty()) { // the default is the Python pyactor was built with
    // Relative to where the runtime starts, not to a worker's cwd; symlinks
    // are kept (a venv's bin/python is one, and Python finds the venv by it).
    if (options.python[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof(cwd)) != nullptr)
        options.python = std::string{cwd} + "/" + options.python;
    }
    if (auto checked = check_python(options.python, PYACTOR_PYTHON_MINOR); !checked)
      return checked.error();
  }
  auto policy = make_policy(options.policy);
  if (!policy)
    return policy.error();
  if (!options.log)
    options.log = log_to_stderr;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto pimpl = std::make_unique<impl>();
  pimpl->options = options;
  auto& cfg = pimpl->cfg;
  cfg.add_message_types<caf::id_block::pyactor>();
  // Blocking callers wake faster under work sharing (shared/caf-0.17.md §8).
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads",
          static_cast<int64_t>(options.threads > 0 ? options.threads : std::max(2u, cores)));
  pimpl->sys = std::make_unique<caf::actor_system>(cfg);
  auto& sys = *pimpl->sys;
  pimpl->direct_least_loaded = options.policy == "least-loaded";
  pimpl->uses_affinity_key = options.policy == "affinity";
  pimpl->scheduler = sys.spawn(scheduler_behavior, std::move(policy).value(), pimpl->routes);

  supervisor_options sup;
  sup.workers = options.workers > 0 ? options.workers : cores;
  sup.max_restarts = options.max_restarts;
  sup.restart_window = options.restart_window;
  sup.scheduler = pimpl->scheduler;
  sup.worker.spawn.executable = std::move(exe).value();
  sup.worker.spawn.python = options.python;
  sup.worker.spawn.python_path = options.python_path;
  if (auto env = std::getenv("PYTHONPATH"); env != nullptr) {
    std::string entries = env;
    for (size_t start = 0, colon; start <= entries.size(); start = colon + 1) {
      colon = entries.find(':', start);
      if (colon == std::string::npos)
        colon = entries.size();
      if (colon > start)
        sup.worker.spawn.python_path.push_back(entries.substr(start, colon - start));
    }
  }
  sup.worker.spawn.python_path.push_back(PYACTOR_DEFAULT_PYTHON_DIR);
  sup.worker.spawn.max_objects = options.max_objects;
  sup.worker.spawn.log = options.log;
  sup.worker.spawn.env = options.env;
  sup.worker.spawn.cwd = options.cwd;
  sup.worker.spawn.imports = options.imports;
  sup.worker.spawn.start_hook = options.start_hook;
  sup.worker.pipeline_depth = options.pipeline_depth;
  sup.worker.max_calls = options.max_calls_per_worker;
  sup.worker.default_timeout = options.default_timeout;
  sup.worker.interrupt_grace = options.interrupt_grace;
  pimpl->supervisor = sys.spawn(supervisor_behavior, std::move(sup));
  pimpl->canceller->scheduler = pimpl->scheduler;

  // Wait until every worker is ready or given up.
  std::string failures;
  bool answered = false;
  {
    caf::scoped_actor self{sys};
    self->request(pimpl->supervisor, std::chrono::minutes(2), ready_atom_v)
      .receive(
        [&](std::string& text) {
          failures = std::move(text);
          answered = true;
        },
        [&](caf::error& e) { failures = "the pool did not start: " + caf::to_string(e); });
  }
  std::unique_ptr<runtime> rt{new runtime(std::move(pimpl))};
  if (!answered)
    return make_error(errc::no_workers, failures);
  auto slots = rt->status();
  bool any_ready = std::any_of(slots.begin(), slots.end(),
                               [](const worker_info& w) { return w.state == "ready"; });
  if (!any_ready)
    return make_error(errc::no_workers, "no worker could start: " + failures);
  if (!failures.empty())
    rt->impl_->options.log("[pyactor] some workers failed to start: " + failures);
  return rt;
}

// -- calls ----------------------------------------------------------------------------

runtime::future runtime::call_async(const std::string& module, const std::string& function,
                                    list args, dict kwargs, const call_options& opts) {
  return impl_->submit(value{}, std::move(args), std::move(kwargs), opts, impl_->affinity_key(module, function),
                       [=](const value&, const list& a, const dict& kw) {
                         return body_builder{op::func, 5}.text(module).text(function).args(a)
                           .kwargs(kw).flag(opts.by_ref).take();
                       });
}

runtime::future runtime::constant_async(const std::string& module, const std::string& name,
                                        const std::string& cast, const call_options& opts) {
  if (!cast.empty() && cast != "int" && cast != "float" && cast != "str") {
    call_handle refused;
    refused.future_ = ready_future(make_error(
      errc::bad_request, "constant: cast must be \"\", \"int\", \"float\" or \"str\", got \"" + cast + "\""));
    return refused;
  }
  return impl_->send(body_builder{op::constant, 3}.text(module).text(name).text(cast).take(), opts,
                     0, impl_->affinity_key(module, name));
}

runtime::future runtime::create_async(const std::string& module, const std::string& class_name,
                                      list args, dict kwargs, const call_options& opts) {
  return impl_->submit(value{}, std::move(args), std::move(kwargs), opts,
                       impl_->affinity_key(module, class_name),
                       [=](const value&, const list& a, const dict& kw) {
                         return body_builder{op::init, 5}.text(module).text(class_name).args(a)
                           .kwargs(kw).flag(opts.by_ref).take();
                       });
}

runtime::future runtime::method_async(const value& target, const std::string& name, list args,
                                      dict kwargs, const call_options& opts) {
  return impl_->submit(target, std::move(args), std::move(kwargs), opts, {},
                       [=](const value& t, const list& a, const dict& kw) {
                         return body_builder{op::method, 5}.item(t).text(name).args(a).kwargs(kw)
                           .flag(opts.by_ref).take();
                       });
}

runtime::future runtime::attr_async(const value& target, const std::string& name,
                                    const call_options& opts) {
  return impl_->submit(target, {}, {}, opts, {}, [=](const value& t, const list&, const dict&) {
    return body_builder{op::attr, 3}.item(t).text(name).flag(opts.by_ref).take();
  });
}

runtime::future runtime::eval_async(const std::string& expression, dict locals,
                                    const call_options& opts) {
  return impl_->submit(value{}, {}, std::move(locals), opts, {},
                       [=](const value&, const list&, const dict& kw) {
                         return body_builder{op::eval, 2}.text(expression).kwargs(kw).take();
                       });
}

result<value> runtime::call(const std::string& module, const std::string& function, list args,
                            dict kwargs, const call_options& opts) {
  return call_async(module, function, std::move(args), std::move(kwargs), opts).get();
}

result<value> runtime::constant(const std::string& module, const std::string& name,
                                const std::string& cast, const call_options& opts) {
  return constant_async(module, name, cast, opts).get();
}

result<value> runtime::create(const std::string& module, const std::string& class_name,
                              list args, dict kwargs, const call_options& opts) {
  return create_async(module, class_name, std::move(args), std::move(kwargs), opts).get();
}

result<value> runtime::method(const value& target, const std::string& name, list args,
                              dict kwargs, const call_options& opts) {
  return method_async(target, name, std::move(args), std::move(kwargs), opts).get();
}

result<value> runtime::attr(const value& target, const std::string& name,
                            const call_options& opts) {
  return attr_async(target, name, opts).get();
}

result<value> runtime::eval(const std::string& expression, dict locals,
                            const call_options& opts) {
  return eval_async(expression, std::move(locals), opts).get();
}

result<value> runtime::exec(const std::string& code, const call_options& opts) {
  return impl_->send(body_builder{op::exec, 1}.text(code).take(), opts, 0, {}).get();
}

result<value> runtime::builtin(const std::string& name, list args, dict kwargs,
                               const call_options& opts) {
  if (!known(builtins_list, name))
    return make_error(errc::bad_request, "'" + name + "' is not one of the Python 3 builtins "
                                           "pyactor offers (see runtime::builtin_names())");
  return call("builtins", name, std::move(args), std::move(kwargs), opts);
}

result<value> runtime::op(const std::string& name, list args, const call_options& opts) {
  if (!known(operators_list, name))
    return make_error(errc::bad_request, "'" + name + "' is not one of the operator functions "
                                           "pyactor offers (see runtime::operator_names())");
  return call("operator", name, std::move(args), {}, opts);
}

result<value> runtime::versions(const call_options& opts) {
  return impl_->send(body_builder{op::versions, 0}.take(), opts, 0, {}).get();
}

result<value> runtime::release(const value& ref) {
  auto r = ref.get_if<object_ref>();
  if (r == nullptr)
    return make_error(errc::bad_request,
                      "release needs an object reference, got a " + ref.type_name());
  return impl_->send(body_builder{op::release, 1}.args(list{value{r->object_id}}).take(), {},
                     r->worker_uid, {})
    .get();
}

// -- pool -------------------------------------------------------------------------------

std::vector<worker_info> runtime::status() const {
  std::vector<worker_info> result;
  auto slots = impl_->ask_supervisor(std::vector<worker_status>{}, caf::make_message(status_atom_v));
  for (auto& s : slots)
    result.push_back(worker_info{s.slot, s.uid, s.pid, s.state, s.served, s.in_flight, s.restarts,
                                 s.rss_bytes, s.last_exit});
  return result;
}

std::vector<restart_info> runtime::restarts() const {
  std::vector<restart_info> result;
  auto records
    = impl_->ask_supervisor(std::vector<restart_record>{}, caf::make_message(history_atom_v));
  for (auto& r : records)
    result.push_back(restart_info{r.slot,
                                  std::chrono::system_clock::time_point{std::chrono::milliseconds(r.at_ms)},
                                  r.reason, r.given_up});
  return result;
}

std::vector<uint64_t> runtime::add_workers(uint32_t n) {
  auto ids = impl_->ask_supervisor(std::vector<uint64_t>{}, caf::make_message(grow_atom_v, n));
  // Wait until the new workers are ready (or given up), as start() does.
  impl_->ask_supervisor(std::string{}, caf::make_message(ready_atom_v));
  return ids;
}

std::vector<uint64_t> runtime::remove_workers(uint32_t n) {
  return impl_->ask_supervisor(std::vector<uint64_t>{}, caf::make_message(shrink_atom_v, n));
}

std::vector<uint64_t> runtime::remove_workers(const std::vector<uint64_t>& ids) {
  return impl_->ask_supervisor(std::vector<uint64_t>{}, caf::make_message(shrink_atom_v, ids));
}

size_t runtime::size() const {
  return status().size();
}

const runtime_options& runtime::options() const {
  return impl_->options;
}

const std::vector<std::string>& runtime::builtin_names() {
  return builtins_list;
}

const std::vector<std::string>& runtime::operator_names() {
  return operators_list;
}

} // namespace pyactor
