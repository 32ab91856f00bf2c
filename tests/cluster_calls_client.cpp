// Drives runtime::connect for tests/cluster_calls_test.sh: each mode runs one
// scenario against a running cluster, prints what it saw, and exits 0 when
// every expectation held (1 otherwise, with the reason on stderr).
//
//   cluster_calls_client HEAD broadcast NODES_WORKERS  one reply per worker
//   cluster_calls_client HEAD forms                    call forms, scatter, batch
//   cluster_calls_client HEAD cancel MARK_FILE         cancel a running call
//   cluster_calls_client HEAD hold MARK_FILE           start a call, say "running", wait to be killed
//   cluster_calls_client HEAD stale NODE               refs on NODE, then its death
//   cluster_calls_client HEAD manage NODE              add/remove workers, remove_node
#include <chrono>
#include <iostream>
#include <set>
#include <string>
#include <thread>

#include <unistd.h>

#include "pyactor/cluster.hpp"
#include "pyactor/pyactor.hpp"

namespace {

using namespace std::chrono_literals;

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::cout << (ok ? "ok: " : "FAIL: ") << what << std::endl;
  if (!ok)
    ++failures;
}

std::string show(const pyactor::result<pyactor::value>& r) {
  return r ? r.value().to_string() : "error " + r.error().to_string();
}

/// A worker id on node `name`, or 0.
uint64_t worker_on(pyactor::runtime& rt, const std::string& name) {
  auto nodes = rt.nodes();
  if (!nodes)
    return 0;
  for (auto& n : nodes.value())
    if (n.name == name && n.state == "up")
      for (auto& w : n.workers)
        if (w.state == "ready")
          return w.id;
  return 0;
}

int broadcast(pyactor::runtime& rt, size_t expected) {
  auto replies = rt.broadcast("os", "getpid");
  std::set<int64_t> pids;
  std::set<uint64_t> nodes;
  for (auto& r : replies) {
    std::cout << "worker " << r.worker << ": " << show(r.outcome) << "\n";
    if (r.outcome && r.outcome.value().is<int64_t>())
      pids.insert(r.outcome.value().as<int64_t>());
    nodes.insert(r.worker >> 32);
  }
  expect(replies.size() == expected, "broadcast: " + std::to_string(expected) + " replies, got "
                                       + std::to_string(replies.size()));
  expect(pids.size() == expected, "broadcast: distinct pids");
  expect(nodes.size() == 3, "broadcast: workers of 3 nodes (head, n1, n2)");
  // A broadcast with a callback, as the blocking one.
  std::promise<size_t> count;
  rt.broadcast_async("os", "getpid", {}, {}, {},
                     [&](std::vector<pyactor::worker_reply> rs) { count.set_value(rs.size()); });
  expect(count.get_future().get() == expected, "broadcast_async: one reply per worker");
  return failures;
}

int forms(pyactor::runtime& rt) {
  expect(show(rt.call("math", "pow", {2, 10})) == "1024.0", "blocking call");
  auto h = rt.call_async("operator", "add", {40, 2});
  expect(show(h.get()) == "42", "call_async with a handle");
  std::promise<pyactor::result<pyactor::value>> p;
  rt.call_async("builtins", "len", {pyactor::value{"abc"}}, {}, {},
                [&](pyactor::result<pyactor::value> r) { p.set_value(std::move(r)); });
  expect(show(p.get_future().get()) == "3", "call_async with a callback");
  pyactor::call_options quick;
  quick.timeout = 300ms;
  auto t = rt.call("time", "sleep", {2}, {}, quick);
  expect(!t && t.error().code == pyactor::errc::timeout, "a remote call past its timeout: " + show(t));
  // scatter/gather and a streamed starmap across the nodes
  pyactor::list items;
  for (int i = 0; i < 200; ++i)
    items.push_back(i);
  std::vector<pyactor::list> pairs;
  for (int i = 0; i < 200; ++i)
    pairs.push_back({i, i});
  pyactor::map_options mo;
  mo.chunk = 7;
  auto products = rt.starmap("operator", "mul", pairs, mo);
  bool all = products.size() == 200;
  for (size_t i = 0; all && i < products.size(); ++i)
    all = products[i] && products[i].value() == pyactor::value{static_cast<int64_t>(i * i)};
  expect(all, "scatter/gather: 200 products in input order");
  size_t streamed = 0, next = 0;
  bool in_order = true;
  auto summary = rt.starmap(
    "os", "getpid",
    [&](pyactor::list& args) {
      if (next == 300)
        return false;
      ++next;
      args.clear();
      return true;
    },
    [&](pyactor::item_result&& r) {
      in_order = in_order && r.index == streamed;
      streamed += r.outcome ? 1 : 0;
    },
    mo, 0);
  expect(summary.items == 300 && streamed == 300 && in_order, "streamed starmap: 300 in order");
  auto batch = rt.batch({{"math", "floor", {2.5}, {}}, {"math", "sqrt", {-1}, {}}});
  expect(batch.size() == 2 && show(batch[0]) == "2" && !batch[1]
           && batch[1].error().code == pyactor::errc::python_exception,
         "batch: each call its own result");
  // a pinned call on every worker id status lists
  bool pinned_ok = true;
  for (auto& w : rt.status()) {
    pyactor::call_options on;
    on.worker = w.id;
    auto pid = rt.call("os", "getpid", {}, {}, on);
    pinned_ok = pinned_ok && pid && pid.value() == pyactor::value{w.pid};
  }
  expect(pinned_ok, "pinned calls reach the worker each id names");
  pyactor::call_options nowhere;
  nowhere.worker = (uint64_t{99} << 32) | 1;
  auto bad = rt.call("os", "getpid", {}, {}, nowhere);
  expect(!bad && bad.error().code == pyactor::errc::bad_request, "a pin to no worker: " + show(bad));
  return failures;
}

/// Starts sleep_marked(MARK, 60) and returns once a worker runs it (an
/// event the status shows).
pyactor::call_handle start_sleeper(pyactor::runtime& rt, const std::string& mark) {
  auto h = rt.call_async("probe", "sleep_marked", {pyactor::value{mark}, 60});
  // sleep_marked writes MARK.started inside its try block: from then on an
  // interrupt lands in its handler (a worker's in-flight count goes up
  // before Python enters the function).
  bool running = false;
  for (int i = 0; i < 300 && !running; ++i) {
    running = ::access((mark + ".started").c_str(), F_OK) == 0;
    if (!running)
      std::this_thread::sleep_for(50ms);
  }
  expect(running, "the call runs on a worker");
  return h;
}

int cancel(pyactor::runtime& rt, const std::string& mark) {
  auto h = start_sleeper(rt, mark);
  h.cancel();
  auto r = h.get();
  expect(!r && r.error().code == pyactor::errc::cancelled, "cancelled: " + show(r));
  return failures;
}

/// Runs sleep_marked(MARK, 60) and waits until a worker runs it, prints
/// "running", and sleeps: the script SIGKILLs this process and expects the
/// head to cancel the orphaned call on its node.
int hold(pyactor::runtime& rt, const std::string& mark) {
  auto h = start_sleeper(rt, mark);
  std::cout << "running" << std::endl;
  std::this_thread::sleep_for(120s);
  return 1; // not killed: the script failed to
}

int stale(pyactor::runtime& rt, const std::string& node) {
  auto on = worker_on(rt, node);
  expect(on != 0, "a worker on " + node);
  pyactor::call_options pin;
  pin.worker = on;
  pin.by_ref = true;
  auto ref = rt.create("collections", "OrderedDict", {}, {}, pin);
  expect(ref && ref.value().is<pyactor::object_ref>(), "an object on " + node + ": " + show(ref));
  if (!ref)
    return failures;
  auto put = rt.method(ref.value(), "__setitem__", {pyactor::value{"k"}, 7});
  auto got = rt.method(ref.value(), "get", {pyactor::value{"k"}});
  expect(show(got) == "7", "calls on the reference go to its node: " + show(put) + " " + show(got));
  // The script kills the node when it reads this line.
  std::cout << "KILL " << node << std::endl;
  std::string line;
  std::getline(std::cin, line); // "dead"
  auto after = rt.method(ref.value(), "get", {pyactor::value{"k"}});
  expect(!after && after.error().code == pyactor::errc::stale_ref,
         "the reference after its node died: " + show(after));
  expect(show(rt.call("operator", "add", {1, 2})) == "3", "other nodes still serve");
  return failures;
}

int manage(pyactor::runtime& rt, const std::string& node) {
  auto before = rt.status().size();
  auto added = rt.add_workers(1, node);
  expect(added && added.value().size() == 1, "add_workers(1, " + node + ")");
  expect(rt.status().size() == before + 1, "status shows the new worker");
  if (added) {
    pyactor::call_options on;
    on.worker = added.value().front();
    expect(static_cast<bool>(rt.call("os", "getpid", {}, {}, on)), "the new worker serves");
    auto removed = rt.remove_workers(added.value());
    expect(removed == added.value(), "remove_workers(ids)");
  }
  auto bad = rt.remove_node("no-such-node");
  expect(!bad && bad.error().code == pyactor::errc::bad_request, "remove_node(unknown): " +
           (bad ? std::string{"ok"} : bad.error().message));
  // A call running on the node finishes before it stops. The call marks a
  // file once it runs (the namespaces share the file system): remove_node
  // promises only calls that run, and a call still on its way to the node
  // when the drain ends gets an error instead.
  auto on = worker_on(rt, node);
  pyactor::call_options pin;
  pin.worker = on;
  char marker_dir[] = "/tmp/pyactor-drain-XXXXXX";
  if (::mkdtemp(marker_dir) == nullptr) {
    expect(false, "a folder for the running call's marker");
    return failures;
  }
  std::string marker = std::string{marker_dir} + "/running";
  auto slow = rt.eval_async("(open(path, 'w').close(), __import__('time').sleep(1))[1]",
                            pyactor::dict{{{"path", marker}}}, pin);
  bool running = false;
  for (int i = 0; i < 3000 && !running; ++i) { // up to 30 s
    running = ::access(marker.c_str(), F_OK) == 0;
    if (!running)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  expect(running, "the slow call runs on " + node);
  // Sent right before the removal: it may run, or still be on its way when
  // the drain ends; either way it gets its answer (never a hang).
  auto racing = rt.call_async("time", "sleep", {0.2}, {}, pin);
  auto gone = rt.remove_node(node);
  expect(static_cast<bool>(gone), "remove_node(" + node + ")" + (gone ? "" : ": " + gone.error().message));
  auto finished = slow.get();
  expect(show(finished) == "None", "its running call finished first: " + show(finished));
  auto raced = racing.get();
  expect(raced ? show(raced) == "None" : !raced.error().message.empty(),
         "a call sent right before remove_node gets its answer: " + show(raced));
  ::unlink(marker.c_str());
  ::rmdir(marker_dir);
  return failures;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: cluster_calls_client HEAD MODE [ARG]\n";
    return 2;
  }
  auto rt = pyactor::runtime::connect(argv[1]);
  if (!rt) {
    std::cerr << "connect: " << rt.error().to_string() << "\n";
    return 1;
  }
  std::string mode = argv[2];
  std::string arg = argc > 3 ? argv[3] : "";
  auto& r = *rt.value();
  expect(r.connected(), "a connected runtime");
  if (mode == "broadcast")
    broadcast(r, std::stoul(arg));
  else if (mode == "forms")
    forms(r);
  else if (mode == "cancel")
    cancel(r, arg);
  else if (mode == "hold")
    hold(r, arg);
  else if (mode == "stale")
    stale(r, arg);
  else if (mode == "manage")
    manage(r, arg);
  else {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  return failures == 0 ? 0 : 1;
}
