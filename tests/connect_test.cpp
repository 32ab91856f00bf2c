// runtime::connect against a real `pyactor head` process on loopback, and
// the cluster API of a local runtime. The cross-host cases (nodes in network
// namespaces, SIGKILL during a map, stale references) are in
// tests/cluster_calls_test.sh.
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "pyactor/cluster.hpp"
#include "pyactor/pyactor.hpp"
#include "test_fixtures.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

/// A `pyactor` process with stderr to /dev/null; killed by pid.
class cli_process {
public:
  explicit cli_process(std::vector<std::string> args) {
    std::string exe = std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor";
    args.insert(args.begin(), exe);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    BOOST_REQUIRE_EQUAL(::posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), environ),
                        0);
    posix_spawn_file_actions_destroy(&actions);
  }

  ~cli_process() { kill(SIGKILL); }

  void kill(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      if (sig == SIGKILL) {
        ::waitpid(pid_, nullptr, 0);
        pid_ = 0;
      }
    }
  }

private:
  pid_t pid_ = 0;
};

int test_port() {
  return 20000 + static_cast<int>(::getpid() % 20000);
}

/// A `pyactor head` on 127.0.0.1 with `workers` local workers.
class head_process : public cli_process {
public:
  explicit head_process(int workers = 1)
    : cli_process({"head", "--listen", "127.0.0.1:" + std::to_string(test_port()), "--workers",
                   std::to_string(workers)}),
      address_("127.0.0.1:" + std::to_string(test_port())) {
    // nop
  }

  const std::string& address() const { return address_; }

  /// Connects, retrying while the head starts (up to 60 s).
  std::unique_ptr<pyactor::runtime> connect() {
    pyactor::cluster::connect_options opts;
    opts.connect_timeout = 2s;
    for (int i = 0; i < 300; ++i) {
      auto rt = pyactor::runtime::connect(address_, opts);
      if (rt) {
        auto status = rt.value()->status();
        if (!status.empty() && status.front().state == "ready")
          return std::move(rt).value();
      }
      std::this_thread::sleep_for(200ms);
    }
    return nullptr;
  }

  /// Connects once every node in `names` ("head" for the head's own
  /// workers) has `per_node` ready workers (up to 60 s).
  std::unique_ptr<pyactor::runtime> connect_when(const std::vector<std::string>& names,
                                                 size_t per_node) {
    pyactor::cluster::connect_options opts;
    opts.connect_timeout = 2s;
    std::unique_ptr<pyactor::runtime> rt;
    for (int i = 0; i < 300; ++i) {
      if (!rt)
        if (auto r = pyactor::runtime::connect(address_, opts))
          rt = std::move(r).value();
      if (rt && all_ready(*rt, names, per_node))
        return rt;
      std::this_thread::sleep_for(200ms);
    }
    return nullptr;
  }

  static bool all_ready(pyactor::runtime& rt, const std::vector<std::string>& names,
                        size_t per_node) {
    auto nodes = rt.nodes();
    if (!nodes)
      return false;
    for (auto& name : names) {
      auto n = std::find_if(nodes.value().begin(), nodes.value().end(),
                            [&](const pyactor::node_info& x) { return x.name == name; });
      if (n == nodes.value().end() || n->state != "up")
        return false;
      auto ready = std::count_if(n->workers.begin(), n->workers.end(),
                                 [](const pyactor::worker_info& w) { return w.state == "ready"; });
      if (static_cast<size_t>(ready) != per_node)
        return false;
    }
    return true;
  }

private:
  std::string address_;
};

/// A `pyactor node` on loopback joined to `head`.
class node_process : public cli_process {
public:
  node_process(const head_process& head, const std::string& name, int workers)
    : cli_process({"node", "--join", head.address(), "--name", name, "--workers",
                   std::to_string(workers)}) {
    // nop
  }
};

/// The worker of node `name` in `nodes` with slot `slot`, or nullptr.
const pyactor::worker_info* find_worker(const std::vector<pyactor::node_info>& nodes,
                                        const std::string& name, uint64_t slot) {
  for (auto& n : nodes)
    if (n.name == name)
      for (auto& w : n.workers)
        if ((w.id & 0xffffffffu) == slot)
          return &w;
  return nullptr;
}

} // namespace

BOOST_AUTO_TEST_SUITE(connect)

BOOST_AUTO_TEST_CASE(a_bad_address_is_refused_with_the_text) {
  auto rt = pyactor::runtime::connect("no-port-here");
  BOOST_REQUIRE(!rt);
  BOOST_CHECK(rt.error().code == pyactor::errc::bad_request);
  BOOST_CHECK_NE(rt.error().message.find("no-port-here"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_head_listening_fails_with_node_down) {
  pyactor::cluster::connect_options opts;
  opts.connect_timeout = 3s;
  auto rt = pyactor::runtime::connect("127.0.0.1:1", opts);
  BOOST_REQUIRE(!rt);
  BOOST_CHECK(rt.error().code == pyactor::errc::node_down);
  BOOST_CHECK_NE(rt.error().message.find("127.0.0.1:1"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_local_runtime_is_the_one_node_local) {
  auto rt = pyactor::test::start_pool(pyactor::test::test_options(1));
  BOOST_CHECK(!rt->connected());
  auto nodes = rt->nodes();
  BOOST_REQUIRE(nodes);
  BOOST_REQUIRE_EQUAL(nodes.value().size(), 1u);
  BOOST_CHECK_EQUAL(nodes.value()[0].name, "local");
  BOOST_CHECK_EQUAL(nodes.value()[0].workers.size(), 1u);
  auto grow = rt->add_workers(1, "elsewhere");
  BOOST_REQUIRE(!grow);
  BOOST_CHECK(grow.error().code == pyactor::errc::bad_request);
  auto gone = rt->remove_node("local");
  BOOST_REQUIRE(!gone);
  BOOST_CHECK(gone.error().code == pyactor::errc::bad_request);
}

BOOST_AUTO_TEST_CASE(calls_through_a_head_and_node_down_when_it_is_killed) {
  head_process head;
  auto rt = head.connect();
  BOOST_REQUIRE(rt);
  BOOST_CHECK(rt->connected());
  auto status = rt->status();
  BOOST_REQUIRE_EQUAL(status.size(), 1u);
  BOOST_CHECK_EQUAL(status[0].id, (uint64_t{1} << 32) | 1); // node 1 ("head"), slot 1
  auto r = rt->call("math", "pow", {2, 8});
  BOOST_REQUIRE(r);
  BOOST_CHECK(r.value() == pyactor::value{256.0});
  auto nodes = rt->nodes();
  BOOST_REQUIRE(nodes);
  BOOST_CHECK_EQUAL(nodes.value().at(0).name, "head");
  auto ref = rt->create("collections", "OrderedDict", {}, {}, pyactor::call_options{0s, 0, true});
  BOOST_REQUIRE(ref && ref.value().is<pyactor::object_ref>());
  BOOST_CHECK(rt->method(ref.value(), "__len__"));
  // The head dies with calls in flight: each gets exactly one reply.
  auto slow1 = rt->call_async("time", "sleep", {30});
  auto slow2 = rt->call_async("time", "sleep", {30});
  for (int i = 0; i < 100 && rt->status().at(0).in_flight == 0; ++i)
    std::this_thread::sleep_for(50ms);
  head.kill(SIGKILL);
  auto a = slow1.get();
  auto b = slow2.get();
  BOOST_REQUIRE(!a);
  BOOST_REQUIRE(!b);
  BOOST_CHECK(a.error().code == pyactor::errc::node_down);
  BOOST_CHECK(b.error().code == pyactor::errc::node_down);
  auto after = rt->call("math", "pow", {2, 8});
  BOOST_REQUIRE(!after);
  BOOST_CHECK(after.error().code == pyactor::errc::node_down);
  BOOST_CHECK_NE(after.error().message.find("head"), std::string::npos);
  BOOST_CHECK(!rt->nodes());
}

BOOST_AUTO_TEST_CASE(restarts_and_status_name_the_node_of_a_worker_killed_there) {
  head_process head{1};
  node_process node{head, "n1", 2};
  auto rt = head.connect_when({"head"}, 1);
  BOOST_REQUIRE(rt);
  // n1's two workers ready too.
  for (int i = 0; i < 300 && !head_process::all_ready(*rt, {"n1"}, 2); ++i)
    std::this_thread::sleep_for(200ms);
  BOOST_REQUIRE(head_process::all_ready(*rt, {"n1"}, 2));
  BOOST_CHECK(rt->restarts().empty());
  auto nodes = rt->nodes();
  BOOST_REQUIRE(nodes);
  auto* victim = find_worker(nodes.value(), "n1", 2);
  auto* own = find_worker(nodes.value(), "head", 1);
  BOOST_REQUIRE(victim != nullptr && own != nullptr);
  auto victim_id = victim->id;
  auto victim_pid = victim->pid;
  auto own_id = own->id;
  auto own_pid = own->pid;
  BOOST_REQUIRE_GT(victim_pid, 0);
  BOOST_REQUIRE_GT(own_pid, 0);
  // status() on a connected runtime lists those workers with those pids.
  auto status = rt->status();
  BOOST_CHECK_EQUAL(status.size(), 3u);
  BOOST_CHECK(std::any_of(status.begin(), status.end(), [&](const pyactor::worker_info& w) {
    return w.id == victim_id && w.pid == victim_pid && w.restarts == 0;
  }));
  // SIGKILL a worker of the node and one of the head; each is restarted where it ran.
  BOOST_REQUIRE_EQUAL(::kill(static_cast<pid_t>(victim_pid), SIGKILL), 0);
  BOOST_REQUIRE_EQUAL(::kill(static_cast<pid_t>(own_pid), SIGKILL), 0);
  std::vector<pyactor::restart_info> seen;
  auto has = [&](const std::string& name, uint64_t id) {
    return std::any_of(seen.begin(), seen.end(), [&](const pyactor::restart_info& r) {
      return r.node == name && r.worker == id && !r.given_up && !r.reason.empty();
    });
  };
  for (int i = 0; i < 300 && !(has("n1", victim_id) && has("head", own_id)); ++i) {
    std::this_thread::sleep_for(100ms);
    seen = rt->restarts();
  }
  BOOST_CHECK(has("n1", victim_id));
  BOOST_CHECK(has("head", own_id));
  for (auto& r : seen)
    BOOST_TEST_MESSAGE(r.node << " worker " << (r.worker & 0xffffffffu) << ": " << r.reason);
  BOOST_CHECK_EQUAL(seen.size(), 2u); // nothing else restarted
  // The restarted worker serves with a new pid and counts the restart.
  auto restarted = [&] {
    status = rt->status();
    return std::any_of(status.begin(), status.end(), [&](const pyactor::worker_info& x) {
      return x.id == victim_id && x.state == "ready" && x.pid != victim_pid;
    });
  };
  for (int i = 0; i < 300 && !restarted(); ++i)
    std::this_thread::sleep_for(100ms);
  auto w = std::find_if(status.begin(), status.end(),
                        [&](const pyactor::worker_info& x) { return x.id == victim_id; });
  BOOST_REQUIRE(w != status.end());
  BOOST_CHECK_EQUAL(w->restarts, 1u);
  BOOST_CHECK_NE(w->pid, victim_pid);
  BOOST_CHECK(w->state == "ready");
  // `pyactor --connect ADDR status` lists both restarts with their node.
  std::string cmd = std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor --connect " + head.address()
                    + " status 2>/dev/null";
  std::string text;
  if (FILE* out = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), out)) > 0)
      text.append(buf, n);
    ::pclose(out);
  }
  BOOST_TEST_MESSAGE(text);
  BOOST_CHECK_NE(text.find("restart of worker 2 on node n1: "), std::string::npos);
  BOOST_CHECK_NE(text.find("restart of worker 1 on node head: "), std::string::npos);
  // Pinned on the restarted worker, a call is served there.
  auto r = rt->call("os", "getpid", {}, {}, pyactor::call_options{0s, victim_id});
  BOOST_REQUIRE(r);
  BOOST_CHECK(r.value() == pyactor::value{static_cast<int64_t>(w->pid)});
  node.kill(SIGKILL);
  head.kill(SIGKILL);
}

BOOST_AUTO_TEST_SUITE_END()
