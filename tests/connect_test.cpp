// runtime::connect against a real `pyactor head` process on loopback, and
// the cluster API of a local runtime. The cross-host cases (nodes in network
// namespaces, SIGKILL during a map, stale references) are in
// tests/cluster_calls_test.sh.
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "pyactor/cluster.hpp"
#include "pyactor/pyactor.hpp"
#include "test_fixtures.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

/// A `pyactor head` on 127.0.0.1 with one local worker; killed by pid.
class head_process {
public:
  head_process() {
    port_ = 20000 + static_cast<int>(::getpid() % 20000);
    address_ = "127.0.0.1:" + std::to_string(port_);
    std::string exe = std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor";
    std::vector<std::string> args{exe, "head", "--listen", address_, "--workers", "1"};
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

  ~head_process() { kill(SIGKILL); }

  void kill(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
      if (sig == SIGKILL) {
        ::waitpid(pid_, nullptr, 0);
        pid_ = 0;
      }
    }
  }

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

private:
  pid_t pid_ = 0;
  int port_ = 0;
  std::string address_;
};

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

BOOST_AUTO_TEST_SUITE_END()
