// The [cluster] and [node.NAME] sections of a config file (pyactor up).
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>

#include <unistd.h>

#include "pyactor/cluster_config.hpp"

using namespace pyactor;

namespace {

/// A config file in /tmp for one test, removed with it.
struct config_file {
  std::string path = "/tmp/pyactor-cluster-config-" + std::to_string(::getpid()) + ".ini";
  explicit config_file(const std::string& text) {
    std::ofstream{path} << text;
  }
  ~config_file() {
    std::remove(path.c_str());
  }
};

result<cluster::cluster_config> read(const std::string& text) {
  config_file f{text};
  return cluster::read_cluster_config(f.path);
}

/// The error message of reading `text`, or "" when it was accepted.
std::string error_of(const std::string& text) {
  auto c = read(text);
  return c ? std::string{} : c.error().message;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const char* head = "[cluster]\nlisten = \"127.0.0.1:7420\"\n";

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_config)

BOOST_AUTO_TEST_CASE(a_cluster_is_read_with_defaults) {
  auto c = read(std::string{head} + "join-timeout = 5s\nworkers = 2\n"
                + "[node.b]\nworkers = 3\nhost = \"ops@10.0.0.2\"\n"
                  "launch = \"ssh {host} pyactor node --join {head} --name {name} {{x}}\"\n"
                  "[node.a]\n[pyactor]\ntimeout = 2s\n");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  auto& cfg = c.value();
  BOOST_CHECK_EQUAL(cfg.path.front(), '/');
  BOOST_CHECK_EQUAL(cfg.listen.to_string(), "127.0.0.1:7420");
  BOOST_CHECK_EQUAL(cfg.head_address.to_string(), "127.0.0.1:7420"); // defaults to listen
  BOOST_CHECK_EQUAL(cfg.join_timeout.count(), 5000);
  BOOST_CHECK_EQUAL(cfg.head_workers, 2u);
  BOOST_CHECK_EQUAL(cfg.pool.default_timeout.count(), 2000);
  BOOST_REQUIRE_EQUAL(cfg.nodes.size(), 2u);
  BOOST_CHECK_EQUAL(cfg.nodes[0].name, "a"); // ordered by name
  BOOST_CHECK_EQUAL(cfg.nodes[0].host, "localhost");
  BOOST_CHECK_EQUAL(cfg.nodes[0].workers, 1u);
  BOOST_CHECK(cfg.nodes[0].launch.empty());
  BOOST_CHECK_EQUAL(cfg.nodes[1].host, "ops@10.0.0.2");
  BOOST_CHECK_EQUAL(cfg.nodes[1].workers, 3u);
}

BOOST_AUTO_TEST_CASE(relative_files_are_relative_to_the_config) {
  auto c = read("[cluster]\nlisten = \"0.0.0.0:7420\"\nhead-address = \"10.0.0.1:7420\"\n"
                "pid-file = \"run/x.pid\"\ninsecure = true\n[node.a]\n");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_CHECK_EQUAL(c.value().pid_file, "/tmp/run/x.pid");
  BOOST_CHECK(c.value().tls.insecure);
  BOOST_CHECK_EQUAL(c.value().head_address.to_string(), "10.0.0.1:7420");
  auto tls = error_of(std::string{head} + "ca = \"nope/ca.pem\"\ncert = \"c.pem\"\nkey = \"k\"\n[node.a]\n");
  BOOST_CHECK_MESSAGE(has(tls, "cannot read TLS file '/tmp/nope/ca.pem'"), tls);
}

BOOST_AUTO_TEST_CASE(bad_clusters_name_the_section_key_and_value) {
  auto check = [](const std::string& text, const std::string& expected) {
    auto message = error_of(text);
    BOOST_CHECK_MESSAGE(has(message, expected), text << "\n -> " << message);
  };
  check(std::string{head} + "[node.a]\n[node.b]\n[node.a]\nworkers = 2\n",
        ".ini:5: [node.a] is given twice (first on line 3)");
  check(std::string{head} + "[cluster]\n[node.a]\n", "[cluster] is given twice");
  check(std::string{head} + "listen = \"127.0.0.1:1\"\n[node.a]\n",
        "[cluster] listen is set twice (first on line 2)");
  check(std::string{head} + "[node.a]\nhost = \"x\"\nhost = \"y\"\n", "[node.a] host is set twice");
  check(std::string{head} + "[node.a]\nlaunch = \"{pyactor} --name {nmae}\"\n",
        "[node.a] launch: unknown placeholder {nmae} (known: {pyactor}, {head}, {name}, "
        "{workers}, {host}");
  check(std::string{head} + "[node.a]\nlaunch = \"echo ${HOME\"\n", "a '{' without its '}'");
  check(std::string{head} + "[node.a]\nlaunch = \"echo }\"\n", "a '}' without its '{'");
  check(std::string{head} + "[node.a]\nlaunch = \"  \"\n", "[node.a] launch must be a command");
  check(std::string{head} + "[node.a]\nworkers = 0\n",
        "[node.a] workers must be an integer from 1 to 1024, got '0'");
  check(std::string{head} + "[node.a]\nhost = \"a b\"\n", "[node.a] host must be a host name");
  check(std::string{head} + "[node.a]\nport = 3\n",
        "unknown option [node.a] port (known: host, workers, launch)");
  check(std::string{head} + "[node.head]\n", "[node.head]: a node name is");
  check(std::string{head} + "[node]\nworkers = 2\n", "a node is a section of its own");
  check(std::string{head} + "insecure = \"yes\"\n[node.a]\n", "[cluster] insecure must be true or false");
  check(std::string{head} + "join-timeout = 5\n[node.a]\n", "[cluster] join-timeout must be a duration");
  check(std::string{head} + "pid-file = \"\"\n[node.a]\n", "[cluster] pid-file must be a file name");
  check(std::string{head} + "wrokers = 1\n[node.a]\n", "unknown option [cluster] wrokers");
  check("[cluster]\nlisten = \"127.0.0.1\"\n[node.a]\n",
        "[cluster] listen must be a double-quoted \"ADDR:PORT\"");
  check("[cluster]\nlisten = \"0.0.0.0:7420\"\n[node.a]\n", "head-address is required");
  check("[cluster]\njoin-timeout = 5s\n[node.a]\n", "[cluster] listen is required");
  check("[node.a]\n", "[cluster] listen is required");
  check(head, "no [node.NAME] section");
  check(std::string{head} + "[nodes.a]\n", "unknown section [nodes]");
}

BOOST_AUTO_TEST_CASE(runtime_options_accept_and_check_cluster_sections) {
  // `pyactor head --config FILE` and `node --config FILE` read the same file.
  config_file good{std::string{head} + "[node.a]\nworkers = 2\n[pyactor]\nworkers = 3\n"};
  auto o = runtime_options::from_file(good.path);
  BOOST_REQUIRE_MESSAGE(o, (o ? "" : o.error().message));
  BOOST_CHECK_EQUAL(o.value().workers, 3u);
  config_file bad{std::string{head} + "[node.a]\nworkers = \"many\"\n"};
  auto b = runtime_options::from_file(bad.path);
  BOOST_REQUIRE(!b);
  BOOST_CHECK_MESSAGE(has(b.error().message, "[node.a] workers"), b.error().message);
}

BOOST_AUTO_TEST_SUITE_END()
