// The worker spec (worker_options with its worker_spawn_options) is plain
// data: it round-trips through CAF's binary serializer, log handle included.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/log_actor.hpp"
#include "actors/scheduler_actor.hpp"
#include "actors/worker_actor.hpp"
#include "test_fixtures.hpp"

namespace actors = pyactor::actors;

namespace {

/// A full spec: every field differs from its default.
actors::worker_options full_spec(caf::actor_system& sys, pyactor::test::log_capture& lines) {
  actors::worker_options o;
  o.spawn.executable = "/opt/pyactor/bin/pyactor-worker";
  o.spawn.python = "/usr/bin/python3";
  o.spawn.module_dir = "/opt/pyactor/lib/pyactor/python";
  o.spawn.python_path = {"/srv/app", "/srv/lib"};
  o.spawn.slot = 7;
  o.spawn.uid = 0x1234567890abcdefULL;
  o.spawn.max_objects = 42;
  o.spawn.log = actors::spawn_log_actor(sys, lines.sink());
  o.spawn.env = {{"PYTHONHASHSEED", "0"}, {"OMP_NUM_THREADS", "1"}};
  o.spawn.cwd = "/tmp";
  o.spawn.imports = {"json", "numpy"};
  o.spawn.start_hook = "app.setup";
  o.default_timeout = std::chrono::milliseconds(1500);
  o.interrupt_grace = std::chrono::milliseconds(250);
  o.start_timeout = std::chrono::milliseconds(9000);
  o.pipeline_depth = 3;
  o.max_calls = 1000;
  o.supervisor = sys.spawn([]() -> actors::ready_listener::behavior_type {
    return {[](actors::ready_atom, uint64_t, uint64_t) {}};
  });
  o.scheduler = sys.spawn(actors::scheduler_behavior,
                          actors::make_policy("round-robin").value(),
                          std::shared_ptr<actors::route_table>{});
  return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(worker_spec)

BOOST_AUTO_TEST_CASE(a_worker_spec_round_trips_through_the_binary_serializer) {
  pyactor::test::log_capture lines; // outlives the system, whose log actor writes to it
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::pyactor>();
  caf::actor_system sys{cfg};
  {
    auto original = full_spec(sys, lines);
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto copy = original; // inspect takes a mutable reference
    auto written = sink(copy);
    BOOST_REQUIRE_MESSAGE(!written, sys.render(written));
    BOOST_CHECK(!buf.empty());

    actors::worker_options decoded;
    caf::binary_deserializer source{sys, buf};
    auto read = source(decoded);
    BOOST_REQUIRE_MESSAGE(!read, sys.render(read));
    BOOST_CHECK_EQUAL(source.remaining(), 0u);
    BOOST_CHECK(decoded == original);
    BOOST_CHECK(!(decoded != original));
    // Equality is not vacuous: each kind of field makes a difference.
    auto other = decoded;
    other.spawn.env.back().second = "2";
    BOOST_CHECK(other != original);
    other = decoded;
    other.spawn.log = actors::log_actor{};
    BOOST_CHECK(other != original);
    other = decoded;
    other.interrupt_grace = std::chrono::milliseconds(251);
    BOOST_CHECK(other != original);

    // The decoded handle is the same log actor: a line sent to it reaches the sink.
    actors::send_log(decoded.spawn.log, "through the decoded handle");
    BOOST_CHECK(lines.wait_for("through the decoded handle", std::chrono::seconds(30)));

    // Serializing a handle puts its actor into the system's registry (so a
    // remote node can reach it), which keeps it alive: stop every one.
    caf::anon_send_exit(original.spawn.log, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(original.supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(original.scheduler, caf::exit_reason::user_shutdown);
  }
}

BOOST_AUTO_TEST_CASE(a_truncated_spec_is_refused) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::pyactor>();
  caf::actor_system sys{cfg};
  actors::worker_spawn_options spec;
  spec.executable = "/opt/pyactor/bin/pyactor-worker";
  spec.imports = {"json"};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  BOOST_REQUIRE(!sink(spec));
  for (size_t cut : {size_t{0}, size_t{1}, buf.size() / 2, buf.size() - 1}) {
    std::vector<char> part(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(cut));
    actors::worker_spawn_options decoded;
    caf::binary_deserializer source{sys, part};
    BOOST_CHECK_MESSAGE(static_cast<bool>(source(decoded)), "cut at " << cut);
  }
}

BOOST_AUTO_TEST_SUITE_END()
