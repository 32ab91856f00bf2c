#include "pyactor/runtime.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "install_layout.hpp"
#include "python_check.hpp"
#include "runtime_impl.hpp"
#include "cluster/connected_queries.hpp"

namespace pyactor {

using actors::ready_atom_v;
using actors::status_atom_v;
using actors::history_atom_v;
using actors::grow_atom_v;
using actors::shrink_atom_v;

namespace {

void log_to_stderr(const std::string& line) {
  static std::mutex mtx;
  std::lock_guard<std::mutex> guard{mtx};
  std::fprintf(stderr, "%s\n", line.c_str());
}

} // namespace

// -- call_handle ----------------------------------------------------------------------

result<value> call_handle::get() {
  if (!slot_)
    return make_error(errc::bad_request, "call_handle::get: no result (empty or already taken)");
  auto r = slot_->take();
  slot_.reset();
  return r;
}

bool call_handle::ready() const {
  return slot_ && slot_->ready();
}

bool call_handle::wait_for(std::chrono::milliseconds timeout) const {
  return slot_ && slot_->wait_for(timeout);
}

void call_handle::cancel() {
  if (canceller_ && id_ != 0 && !ready())
    canceller_->cancel(id_);
}

// -- impl ---------------------------------------------------------------------------

runtime::runtime(std::unique_ptr<impl> pimpl) : impl_(std::move(pimpl)) {
  // nop
}

runtime::~runtime() {
  impl_->shutdown();
}

result<std::unique_ptr<runtime>> runtime::start(runtime_options options) {
  if (auto ok = options.validate(); !ok)
    return ok.error();
  auto layout = find_install_layout(options.worker_executable);
  if (!layout)
    return layout.error();
  if (!options.python.empty()) { // the default is the Python pyactor was built with
    // Relative to where the runtime starts, not to a worker's cwd; symlinks
    // are kept (a venv's bin/python is one, and Python finds the venv by it).
    if (options.python[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof(cwd)) != nullptr)
        options.python = std::string{cwd} + "/" + options.python;
    }
    if (auto checked = client::check_python(options.python, PYACTOR_PYTHON_MINOR); !checked)
      return checked.error();
  }
  auto policy = actors::make_policy(options.policy);
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
  // Constructing the system and spawning on this thread leave CAF's
  // thread-local logger pointing at it, and ~actor_system waits until that
  // reference is gone: with a live starting thread, forever. Drop it when
  // start returns, so the runtime can be destroyed on any thread.
  struct forget_logger {
    ~forget_logger() { caf::logger::set_current_actor_system(nullptr); }
  } forget;
  auto& sys = *pimpl->sys;
  pimpl->direct_least_loaded = options.policy == "least-loaded";
  pimpl->uses_affinity_key = options.policy == "affinity";
  auto scheduler = sys.spawn(actors::scheduler_behavior, std::move(policy).value(), pimpl->routes);

  actors::supervisor_options sup;
  sup.workers = options.workers > 0 ? options.workers : cores;
  sup.max_restarts = options.max_restarts;
  sup.restart_window = options.restart_window;
  sup.scheduler = scheduler;
  sup.first_uid = std::max<uint64_t>(1, options.first_worker_uid);
  sup.worker.spawn.executable = layout->worker_executable;
  sup.worker.spawn.python = options.python;
  if (!layout->module_dir.empty()) { // our own launcher: the node runs Python directly
    sup.worker.spawn.module_dir = layout->module_dir;
    if (sup.worker.spawn.python.empty())
      sup.worker.spawn.python = layout->default_python; // the launcher's default
  }
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
  sup.worker.spawn.python_path.push_back(layout->python_dir);
  sup.worker.spawn.max_objects = options.max_objects;
  sup.worker.spawn.log = actors::spawn_log_actor(sys, options.log);
  sup.worker.spawn.env = options.env;
  sup.worker.spawn.cwd = options.cwd;
  sup.worker.spawn.imports = options.imports;
  sup.worker.spawn.start_hook = options.start_hook;
  sup.worker.pipeline_depth = options.pipeline_depth;
  sup.worker.max_calls = options.max_calls_per_worker;
  sup.worker.default_timeout = options.default_timeout;
  sup.worker.interrupt_grace = options.interrupt_grace;
  sup.worker.start_timeout = options.start_timeout;
  auto ends = std::make_shared<runtime::impl::endpoints>();
  ends->scheduler = scheduler;
  ends->supervisor = sys.spawn(actors::supervisor_behavior, std::move(sup));
  pimpl->calls = std::make_shared<client::call_table>(options.log);
  ends->client = sys.spawn(client::client_behavior, options.log);
  pimpl->ends_ = std::move(ends);
  pimpl->canceller->rt = pimpl.get();

  // Wait until every worker is ready or given up (through the client
  // actor: no scoped_actor on this thread, shared/caf-0.17.md §10).
  auto ready = pimpl->ask<std::string>(caf::make_message(ready_atom_v), std::chrono::minutes(2));
  bool answered = static_cast<bool>(ready);
  std::string failures = ready ? ready.value() : "the pool did not start: " + ready.error().message;
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

// -- pool -------------------------------------------------------------------------------

std::vector<worker_info> runtime::status() const {
  std::vector<worker_info> result;
  auto slots = impl_->ask_supervisor(std::vector<actors::worker_status>{}, caf::make_message(status_atom_v));
  for (auto& s : slots)
    result.push_back(worker_info{s.slot, s.uid, s.pid, s.state, s.served, s.in_flight, s.restarts,
                                 s.rss_bytes, s.last_exit});
  return result;
}

std::vector<restart_info> runtime::restarts() const {
  if (impl_->connected)
    return cluster::connected_restarts(*impl_);
  std::vector<restart_info> result;
  auto records
    = impl_->ask_supervisor(std::vector<actors::restart_record>{}, caf::make_message(history_atom_v));
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

} // namespace pyactor
