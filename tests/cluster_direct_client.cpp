// Drives runtime::connect for tests/cluster_direct_test.sh: calls sent
// straight to the node that runs them. Each mode prints what it saw and exits
// 0 when every expectation held (1 otherwise).
//
//   cluster_direct_client HEAD busy NODE         pins a long call on every worker of NODE,
//                                                says "busy", waits to be killed
//   cluster_direct_client HEAD spread NODE N     once NODE shows its workers busy, N calls:
//                                                NODE (busy) gets fewer than every other node
//   cluster_direct_client HEAD lost NODE         long calls on NODE and quick ones everywhere;
//                                                says "running"; the script kills or stops NODE:
//                                                every call gets exactly one reply, NODE's node_down
//   cluster_direct_client HEAD restart NODE VIA  calls NODE (direct) and VIA (through the head),
//                                                says "before"; after "killed" on stdin, NODE
//                                                still serves and VIA gets node_down ("headless");
//                                                after "restarted", the runtime reaches the new
//                                                head by itself and VIA serves again
//   cluster_direct_client HEAD fallback NODE     NODE is not reachable directly: the client says
//                                                so, naming NODE and its address, and its calls
//                                                go through the head
#include <atomic>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

using result_text_t = std::pair<bool, std::string>;

/// Lines the runtime logs, to wait for one.
struct log_sink {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::string> lines;

  void add(const std::string& line) {
    std::cerr << line << std::endl;
    std::lock_guard<std::mutex> guard{mtx};
    lines.push_back(line);
    cv.notify_all();
  }

  /// Waits (at most `limit`) for a line holding every one of `parts`.
  std::string wait_for(const std::vector<std::string>& parts, std::chrono::seconds limit) {
    std::unique_lock<std::mutex> guard{mtx};
    std::string found;
    cv.wait_for(guard, limit, [&] {
      for (auto& l : lines) {
        bool all = true;
        for (auto& p : parts)
          all = all && l.find(p) != std::string::npos;
        if (all) {
          found = l;
          return true;
        }
      }
      return false;
    });
    return found;
  }
};

std::vector<pyactor::node_info> nodes_of(pyactor::runtime& rt) {
  auto n = rt.nodes();
  return n ? n.value() : std::vector<pyactor::node_info>{};
}

const pyactor::node_info* find(const std::vector<pyactor::node_info>& nodes,
                               const std::string& name) {
  for (auto& n : nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

/// The ready workers of `name`, as cluster ids.
std::vector<uint64_t> workers_of(pyactor::runtime& rt, const std::string& name) {
  std::vector<uint64_t> ids;
  auto nodes = nodes_of(rt);
  if (auto* n = find(nodes, name))
    for (auto& w : n->workers)
      if (w.state == "ready")
        ids.push_back(w.id);
  return ids;
}

/// Polls `nodes()` (at most `limit`) until every worker of `name` has a call in flight.
bool wait_busy(pyactor::runtime& rt, const std::string& name, std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto nodes = nodes_of(rt);
    if (auto* n = find(nodes, name); n != nullptr && !n->workers.empty()) {
      bool all = true;
      for (auto& w : n->workers)
        all = all && w.in_flight > 0;
      if (all)
        return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

int busy(pyactor::runtime& rt, const std::string& node) {
  auto ids = workers_of(rt, node);
  expect(!ids.empty(), "workers on " + node);
  std::vector<pyactor::runtime::future> calls;
  for (auto id : ids) {
    pyactor::call_options o;
    o.worker = id;
    calls.push_back(rt.call_async("time", "sleep", {120}, {}, o));
  }
  expect(wait_busy(rt, node, 30s), "every worker of " + node + " runs a long call");
  std::cout << "busy" << std::endl;
  std::this_thread::sleep_for(std::chrono::minutes(5)); // killed by the script
  return 0;
}

int spread(pyactor::runtime& rt, const std::string& node, size_t n) {
  // nodes() also refreshes the runtime's route table: once it shows the
  // other client's calls, routing counts them.
  expect(wait_busy(rt, node, 30s), node + " shows its workers busy");
  auto nodes = nodes_of(rt);
  std::map<int64_t, std::string> by_pid;
  for (auto& x : nodes)
    by_pid[x.pid] = x.name;
  std::map<std::string, size_t> count;
  for (size_t i = 0; i < n; ++i) {
    auto r = rt.call("os", "getppid");
    if (!r || !r.value().is<int64_t>()) {
      expect(false, "call " + std::to_string(i) + ": "
                      + (r ? r.value().to_string() : r.error().to_string()));
      return 1;
    }
    ++count[by_pid[r.value().as<int64_t>()]];
  }
  std::string text;
  for (auto& x : nodes)
    if (x.state == "up")
      text += " " + x.name + "=" + std::to_string(count[x.name]);
  std::cout << "calls per node:" << text << std::endl;
  for (auto& x : nodes)
    if (x.state == "up" && x.name != node && !x.workers.empty())
      expect(count[node] < count[x.name], "busy " + node + " got fewer calls than " + x.name
                                             + " (" + std::to_string(count[node]) + " < "
                                             + std::to_string(count[x.name]) + ")");
  return 0;
}

int lost(pyactor::runtime& rt, const std::string& node) {
  struct tally {
    std::mutex mtx;
    std::condition_variable cv;
    std::vector<int> replies;
    std::vector<std::string> errors;
    size_t done = 0;
  };
  auto t = std::make_shared<tally>();
  auto ids = workers_of(rt, node);
  expect(!ids.empty(), "workers on " + node);
  constexpr size_t quick = 200;
  size_t total = ids.size() + quick;
  t->replies.assign(total, 0);
  t->errors.assign(total, "");
  auto on_done = [t](size_t i) {
    return [t, i](pyactor::result<pyactor::value> r) {
      std::lock_guard<std::mutex> guard{t->mtx};
      ++t->replies[i];
      if (!r)
        t->errors[i] = r.error().to_string();
      ++t->done;
      t->cv.notify_all();
    };
  };
  // Long calls pinned on the node: only its loss can end them early.
  for (size_t i = 0; i < ids.size(); ++i) {
    pyactor::call_options o;
    o.worker = ids[i];
    o.timeout = 120s;
    rt.call_async("time", "sleep", {60}, {}, o, on_done(i));
  }
  expect(wait_busy(rt, node, 30s), "the long calls run on " + node);
  std::cout << "running" << std::endl;
  // Quick calls on every node while the script kills or stops it.
  for (size_t i = 0; i < quick; ++i) {
    rt.call_async("time", "sleep", {0.01}, {}, {}, on_done(ids.size() + i));
    std::this_thread::sleep_for(2ms);
  }
  std::unique_lock<std::mutex> guard{t->mtx};
  t->cv.wait_for(guard, 60s, [&] { return t->done >= total; });
  size_t once = 0, down = 0, direct = 0;
  for (size_t i = 0; i < total; ++i) {
    once += t->replies[i] == 1;
    down += t->errors[i].find("node_down") != std::string::npos;
  }
  for (size_t i = 0; i < ids.size(); ++i)
    direct += t->errors[i].find("reached directly") != std::string::npos;
  std::cout << "replies: " << t->done << " of " << total << "; node_down " << down << std::endl;
  if (!t->errors.empty())
    std::cout << "a long call: " << t->errors[0] << std::endl;
  expect(once == total, "every call got exactly one reply (" + std::to_string(once) + " of "
                          + std::to_string(total) + ")");
  // Each long call ends in node_down: from the direct link when it was sent
  // straight to the node, or from the head when it went that way (a call
  // sent before the link to the node is up, or while it is re-established,
  // goes through the head; under load this happened to 1 of 2 calls once).
  size_t long_down = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    long_down += t->errors[i].find("node_down") != std::string::npos;
  std::cout << "long calls: " << long_down << " node_down, " << direct
            << " of them from the direct link" << std::endl;
  expect(long_down == ids.size(), "the long calls on " + node + " got node_down ("
                                    + std::to_string(long_down) + " of "
                                    + std::to_string(ids.size()) + ", "
                                    + std::to_string(direct) + " from the direct link)");
  guard.unlock();
  // Other nodes still serve.
  auto r = rt.call("operator", "add", {1, 2});
  expect(r && r.value().to_string() == "3", "other nodes still serve");
  return 0;
}

int fallback(pyactor::runtime& rt, log_sink& log, const std::string& node) {
  auto ids = workers_of(rt, node);
  expect(!ids.empty(), "workers on " + node);
  auto line = log.wait_for({"cannot reach node " + node + " directly at 127.0.0.1:",
                            "its calls go through the head"},
                           30s);
  expect(!line.empty(), "the client says it cannot reach " + node + " directly, and where");
  for (auto id : ids) {
    pyactor::call_options o;
    o.worker = id;
    auto r = rt.call("operator", "add", {2, 3}, {}, o);
    expect(r && r.value().to_string() == "5", "a call pinned on " + node
                                                + " goes through the head: "
                                                + (r ? r.value().to_string()
                                                     : r.error().to_string()));
  }
  return 0;
}

result_text_t call_on(pyactor::runtime& rt, uint64_t worker) {
  pyactor::call_options o;
  o.worker = worker;
  auto r = rt.call("operator", "add", {2, 3}, {}, o);
  return {r && r.value().to_string() == "5", r ? r.value().to_string() : r.error().to_string()};
}

int restart(pyactor::runtime& rt, log_sink& log, const std::string& node, const std::string& via) {
  auto direct = workers_of(rt, node);
  auto through = workers_of(rt, via);
  expect(!direct.empty() && !through.empty(), "workers on " + node + " and " + via);
  if (direct.empty() || through.empty())
    return 1;
  auto a = call_on(rt, direct.front());
  auto b = call_on(rt, through.front());
  expect(a.first && b.first, "calls on " + node + " and " + via + ": " + a.second + ", " + b.second);
  std::cout << "before" << std::endl;
  std::string line;
  std::getline(std::cin, line); // "killed": the head is gone
  expect(!log.wait_for({"lost the head at"}, 30s).empty(), "the runtime saw the head go");
  a = call_on(rt, direct.front());
  expect(a.first, node + " still serves without the head (direct): " + a.second);
  b = call_on(rt, through.front());
  expect(!b.first && b.second.find("lost the connection to the head") != std::string::npos,
         via + " (through the head) gets node_down meanwhile: " + b.second);
  std::cout << "headless" << std::endl;
  std::getline(std::cin, line); // "restarted": a new head, the nodes joined it
  expect(!log.wait_for({"reached the head at", "again"}, 60s).empty(),
         "the runtime reached the new head by itself");
  through = workers_of(rt, via); // the new head numbers the nodes anew
  expect(!through.empty(), "workers on " + via + " after the restart");
  if (!through.empty()) {
    b = call_on(rt, through.front());
    expect(b.first, via + " serves again through the new head: " + b.second);
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: cluster_direct_client HEAD MODE NODE [N]\n";
    return 2;
  }
  auto log = std::make_shared<log_sink>();
  pyactor::cluster::connect_options opts;
  opts.log = [log](const std::string& line) { log->add(line); };
  auto rt = pyactor::runtime::connect(argv[1], opts);
  if (!rt) {
    std::cerr << "connect: " << rt.error().to_string() << "\n";
    return 1;
  }
  std::string mode = argv[2];
  std::string node = argv[3];
  auto& r = *rt.value();
  if (mode == "busy")
    busy(r, node);
  else if (mode == "spread" && argc > 4)
    spread(r, node, std::stoul(argv[4]));
  else if (mode == "lost")
    lost(r, node);
  else if (mode == "restart" && argc > 4)
    restart(r, *log, node, argv[4]);
  else if (mode == "fallback")
    fallback(r, *log, node);
  else {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  return failures == 0 ? 0 : 1;
}
