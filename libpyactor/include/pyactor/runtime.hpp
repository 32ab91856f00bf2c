// The C++ API: start a pool of Python workers and call into it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/parallel.hpp"
#include "pyactor/runtime_options.hpp"
#include "pyactor/value.hpp"

namespace pyactor {

namespace cluster {
struct pool_access;
struct connect_options;
} // namespace cluster

/// Per-call options.
struct call_options {
  /// Zero takes the runtime's default timeout; negative is a `bad_request`;
  /// anything above 2^32-1 ms (49.7 days) counts as 2^32-1 ms.
  std::chrono::milliseconds timeout{0};
  /// Run on the worker with this id (1-based); 0 lets the policy pick.
  uint64_t worker = 0;
  /// Return an object reference even when the result has a by-value encoding
  /// (e.g. a list you mean to mutate with `method`).
  bool by_ref = false;
};

/// Receives the one result of an asynchronous call (`runtime::call_async`
/// and the other `_async` forms that take it). The thread contract:
///
/// - It runs exactly once per call: with the result, a typed error, or
///   `cancelled` after `runtime::cancel`; for a call still pending when the
///   runtime is destroyed, with `not_running` on the destroying thread.
/// - It runs on a thread of the runtime: the I/O thread of the worker that
///   answered (results, and `timeout` of a call its caller wrote straight to
///   the worker), or a CAF scheduler thread (the other errors the runtime
///   decides itself: refusals, `timeout`, `cancelled`, `worker_crashed`,
///   `stale_ref`, `no_workers`). Never inside the `_async` call or the
///   `cancel` that caused it, except once the runtime's destruction has
///   begun: a call submitted then gets `not_running` on the submitting thread
///   before the submit returns.
/// - It must return quickly and must not block: no blocking call on the
///   runtime (`call`, `get`, `status`, ...), no waiting for another call. It
///   may submit more `_async` calls and `cancel` calls.
/// - An exception it throws is caught and logged through `runtime_options::log`;
///   it changes nothing else.
/// - An empty function is allowed: the result is dropped.
using completion_callback = std::function<void(result<value>)>;

/// The pending result of an asynchronous call. Move-only; `get` once.
class call_handle {
public:
  call_handle() = default;
  call_handle(call_handle&&) = default;
  call_handle& operator=(call_handle&&) = default;
  call_handle(const call_handle&) = delete;
  call_handle& operator=(const call_handle&) = delete;

  /// Waits for the result (a value or a typed error) and returns it.
  result<value> get();
  /// True once the result is there.
  bool ready() const;
  /// Waits up to `timeout`; true if the result is there.
  bool wait_for(std::chrono::milliseconds timeout) const;
  /// Cancels the call: a waiting call is dropped, a running one interrupted
  /// (KeyboardInterrupt); either way the result becomes `cancelled`. No effect
  /// once the call has finished.
  void cancel();
  /// The runtime-wide id of this call (for `runtime::cancel`).
  uint64_t id() const { return id_; }

  struct canceller;
  /// Where the result lands: set once by the call's completion, on any thread.
  struct slot;

private:
  friend class runtime;
  // Not std::future: std::promise::set_value runs std::call_once on a fresh
  // flag, and glibc's pthread_once then makes a futex syscall every time,
  // one per call on the thread that completes it.
  std::shared_ptr<slot> slot_;
  uint64_t id_ = 0;
  std::shared_ptr<canceller> canceller_;
};

/// One restart of a worker, as reported by `runtime::restarts`.
struct restart_info {
  uint64_t worker = 0;
  std::chrono::system_clock::time_point at;
  std::string reason;
  bool given_up = false;
  /// The worker's node: "local" for a local runtime, the node's name for a
  /// connected one (whose worker ids are cluster-wide, as in `status`).
  std::string node = "local";
};

/// One worker as reported by `runtime::status`.
struct worker_info {
  uint64_t id = 0;
  uint64_t uid = 0;
  int64_t pid = 0;
  std::string state;
  uint64_t served = 0;
  uint32_t in_flight = 0;
  uint32_t restarts = 0;
  uint64_t rss_bytes = 0;
  std::string last_exit;
};

/// One node of a cluster (`runtime::nodes`; the head's own pool is the node
/// "head", a local runtime's pool the node "local").
struct node_info {
  std::string name;
  /// Where the head sees the node's connection from ("local" for the head).
  std::string address;
  /// "up", or "down" with `note` saying why ("removed" after remove_node).
  std::string state;
  std::chrono::system_clock::time_point since;
  int64_t pid = 0;
  std::string note;
  /// Its workers as `runtime::status` reports them (cluster worker ids).
  std::vector<worker_info> workers;
};

/// A pool of Python worker processes on this node. Usage:
///   auto rt = pyactor::runtime::start();             // or start(options)
///   if (!rt) { std::cerr << rt.error().to_string(); return 1; }
///   auto r = rt.value()->call("math", "pow", {2, 16}); // blocking
///   auto f = rt.value()->call_async("os", "getcwd");   // a call_handle
///   rt.value()->call_async("os", "getcwd", {}, {}, {},  // a callback
///                          [](pyactor::result<pyactor::value> r) { /* ... */ });
/// Every function is thread-safe. Every call ends with exactly one result:
/// a value or a typed `error`. The runtime may be destroyed on any thread
/// (not from inside one of its callbacks): calls still pending get
/// `not_running`, then every worker stops.
class runtime {
public:
  using future = call_handle;

  /// Starts the pool and waits until every worker is ready or given up.
  /// Fails when options are invalid or no worker could start.
  static result<std::unique_ptr<runtime>> start(runtime_options options = {});

  /// The same API against a running cluster: connects to its head at
  /// "ADDR:PORT" (pyactor head --listen) and fails within the connect
  /// timeout. Every call form works as on a local pool; calls go through
  /// the head to the least loaded node (a pinned call or an object
  /// reference to the node that has it); values cross as the msgpack bytes
  /// they are. Worker ids are cluster-wide: node index * 2^32 + slot (see
  /// `status`, `nodes`). A call in flight on a node that is lost gets
  /// `node_down`; when the head itself is lost, every call does. Options are
  /// in pyactor/cluster.hpp (TLS, heartbeats, default timeout).
  static result<std::unique_ptr<runtime>> connect(const std::string& address,
                                                  const cluster::connect_options& options);
  static result<std::unique_ptr<runtime>> connect(const std::string& address);

  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // -- calls (blocking; each has an _async twin returning a future) ---------

  /// `module.function(*args, **kwargs)`; `function` may be dotted ("path.isfile").
  result<value> call(const std::string& module, const std::string& function, list args = {},
                     dict kwargs = {}, const call_options& opts = {});
  /// Reads `module.name`; `cast` is "", "int", "float" or "str".
  result<value> constant(const std::string& module, const std::string& name,
                         const std::string& cast = "", const call_options& opts = {});
  /// Instantiates `module.class_name(*args, **kwargs)`.
  result<value> create(const std::string& module, const std::string& class_name, list args = {},
                       dict kwargs = {}, const call_options& opts = {});
  /// `target.name(*args, **kwargs)`; target is a value or an object reference.
  result<value> method(const value& target, const std::string& name, list args = {},
                       dict kwargs = {}, const call_options& opts = {});
  /// `target.name`.
  result<value> attr(const value& target, const std::string& name,
                     const call_options& opts = {});
  /// Evaluates a Python expression in the worker's namespace, with `locals`.
  result<value> eval(const std::string& expression, dict locals = {},
                     const call_options& opts = {});
  /// Runs Python statements in the worker's namespace (pin a worker to reuse it).
  result<value> exec(const std::string& code, const call_options& opts = {});
  /// A Python 3 builtin by name (`abs`, `pow`, `len`, ...); unknown names are
  /// refused before anything is sent.
  result<value> builtin(const std::string& name, list args = {}, dict kwargs = {},
                        const call_options& opts = {});
  /// An `operator` module function by name (`add`, `truediv`, `and_`, ...).
  result<value> op(const std::string& name, list args = {}, const call_options& opts = {});
  /// Python, pyactor and platform versions of one worker.
  result<value> versions(const call_options& opts = {});
  /// Frees the object behind a reference in its worker; returns 1 or 0.
  result<value> release(const value& ref);

  future call_async(const std::string& module, const std::string& function, list args = {},
                    dict kwargs = {}, const call_options& opts = {});
  future constant_async(const std::string& module, const std::string& name,
                        const std::string& cast = "", const call_options& opts = {});
  future create_async(const std::string& module, const std::string& class_name, list args = {},
                      dict kwargs = {}, const call_options& opts = {});
  future method_async(const value& target, const std::string& name, list args = {},
                      dict kwargs = {}, const call_options& opts = {});
  future attr_async(const value& target, const std::string& name, const call_options& opts = {});
  future eval_async(const std::string& expression, dict locals = {},
                    const call_options& opts = {});

  // -- calls with a callback (see completion_callback for the thread contract) --

  /// Each sends the call of its blocking twin and returns at once with the
  /// call's id; `on_done` gets the one result later. No thread waits for
  /// the call, so thousands may be in flight.
  uint64_t call_async(const std::string& module, const std::string& function, list args,
                      dict kwargs, const call_options& opts, completion_callback on_done);
  uint64_t constant_async(const std::string& module, const std::string& name,
                          const std::string& cast, const call_options& opts,
                          completion_callback on_done);
  uint64_t create_async(const std::string& module, const std::string& class_name, list args,
                        dict kwargs, const call_options& opts, completion_callback on_done);
  uint64_t method_async(const value& target, const std::string& name, list args, dict kwargs,
                        const call_options& opts, completion_callback on_done);
  uint64_t attr_async(const value& target, const std::string& name, const call_options& opts,
                      completion_callback on_done);
  uint64_t eval_async(const std::string& expression, dict locals, const call_options& opts,
                      completion_callback on_done);
  uint64_t exec_async(const std::string& code, const call_options& opts,
                      completion_callback on_done);
  uint64_t builtin_async(const std::string& name, list args, dict kwargs,
                         const call_options& opts, completion_callback on_done);
  uint64_t op_async(const std::string& name, list args, const call_options& opts,
                    completion_callback on_done);
  uint64_t versions_async(const call_options& opts, completion_callback on_done);
  uint64_t release_async(const value& ref, completion_callback on_done);

  /// `broadcast` with a callback: `on_done` gets one reply per worker, in
  /// worker order, once all are in (same thread contract). Cancelling the
  /// returned id cancels every worker's call.
  uint64_t broadcast_async(const std::string& module, const std::string& function, list args,
                           dict kwargs, const broadcast_options& opts,
                           std::function<void(std::vector<worker_reply>)> on_done);

  /// `batch` with a callback: `on_done` gets one result per call, in order
  /// (same thread contract).
  uint64_t batch_async(const std::vector<batch_call>& calls, const call_options& opts,
                       std::function<void(std::vector<result<value>>)> on_done);

  /// Cancels the call `call_id` wherever it is: its result becomes
  /// `cancelled` (delivered on a CAF thread, not inside this function), a
  /// waiting call is dropped and a running one interrupted
  /// (KeyboardInterrupt). A no-op for unknown or finished ids. Never blocks.
  void cancel(uint64_t call_id);

  // -- parallel ----------------------------------------------------------------

  /// The same call on every live worker (or `opts.workers`), in parallel:
  /// one reply per worker, in worker order. E.g. import a module everywhere,
  /// seed every RNG, read each `os.getpid()`.
  std::vector<worker_reply> broadcast(const std::string& module, const std::string& function,
                                      list args = {}, dict kwargs = {},
                                      const broadcast_options& opts = {});

  /// `function(*args)` for each argument list from `next`, spread over the
  /// pool in chunks, each result handed to `sink` (in order, or as completed
  /// with `ordered = false`). Streams: at most `max_chunks_in_flight` chunks
  /// (plus, when ordered, the results waiting for an earlier chunk) are held
  /// at once, so inputs of millions of items run in bounded memory.
  /// `total` (0 if unknown) sizes the chunks and the progress ETA.
  map_summary starmap(const std::string& module, const std::string& function, item_source next,
                      item_sink sink, const map_options& opts = {}, size_t total = 0);

  /// Scatter/gather: `function(*items[i])` for every i; results in input
  /// order, each item with its own result or error (`cancelled` for items
  /// skipped after `stop_on_error`).
  std::vector<result<value>> starmap(const std::string& module, const std::string& function,
                                     const std::vector<list>& items, const map_options& opts = {});

  /// `function(item)` for every item, as `starmap` with one argument each.
  std::vector<result<value>> map(const std::string& module, const std::string& function,
                                 const list& items, const map_options& opts = {});

  /// Several different calls in one message to one worker, answered
  /// together; each call has its own result or error.
  std::vector<result<value>> batch(const std::vector<batch_call>& calls,
                                   const call_options& opts = {});

  // -- pool ------------------------------------------------------------------

  /// Every worker slot: id, pid, state, counters.
  std::vector<worker_info> status() const;

  /// Number of worker slots (live or not).
  size_t size() const;

  /// The last restarts and give-ups, oldest first, with their reasons; on a
  /// connected runtime those of every node that is up, node by node.
  std::vector<restart_info> restarts() const;

  /// Starts `n` more workers; returns their ids (they serve once ready).
  std::vector<uint64_t> add_workers(uint32_t n);

  /// Removes the `n` newest workers after they finish the calls they run;
  /// calls waiting for them go to the others. Returns the ids removed.
  std::vector<uint64_t> remove_workers(uint32_t n);

  /// Removes the workers with these ids, as `remove_workers(n)` does.
  std::vector<uint64_t> remove_workers(const std::vector<uint64_t>& ids);

  const runtime_options& options() const;

  // -- cluster (a runtime from `connect`; a local one is the node "local") ------

  /// True for a runtime from `connect`.
  bool connected() const;

  /// Every node, up or down, with its workers.
  result<std::vector<node_info>> nodes() const;

  /// Starts `n` more workers on node `node` ("" picks the node with the
  /// fewest; a local runtime takes only ""), answered once they are ready;
  /// returns their ids.
  result<std::vector<uint64_t>> add_workers(uint32_t n, const std::string& node);

  /// Removes a node of a connected runtime: no new calls go to it, its
  /// workers finish the calls they run, then the node process stops. Fails
  /// with `bad_request` naming the nodes when `name` is not up (or is the
  /// head's own pool), and on a local runtime.
  result<bool> remove_node(const std::string& name);

  /// Names reachable through `builtin` and `op`.
  static const std::vector<std::string>& builtin_names();
  static const std::vector<std::string>& operator_names();

  struct impl;

private:
  friend class map_runner;
  friend struct cluster::pool_access; // the cluster serves this pool to its head
  explicit runtime(std::unique_ptr<impl> pimpl);
  std::unique_ptr<impl> impl_;
};

} // namespace pyactor
