// A cluster described by a config file: the [cluster] section (the head) and
// one [node.NAME] section per worker node, for `pyactor up` and `pyactor down`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "pyactor/cluster.hpp"
#include "pyactor/error.hpp"
#include "pyactor/runtime_options.hpp"

namespace pyactor::cluster {

/// One [node.NAME] section.
struct node_spec {
  /// The section's NAME: letters, digits, '-' and '_'; never "head".
  std::string name;
  /// Where it runs ({host} in `launch`); "localhost" by default.
  std::string host = "localhost";
  /// Worker processes of the node, 1 to 1024.
  uint32_t workers = 1;
  /// The command template that starts the node (run by /bin/sh -c after the
  /// placeholders {pyactor}, {head}, {name}, {workers} and {host} are
  /// replaced; `{{` and `}}` are literal braces). Empty: `default_launch`.
  std::string launch;
};

/// A whole config file read for `pyactor up`.
struct cluster_config {
  /// The file, as an absolute path.
  std::string path;
  /// [cluster] listen: where the head listens (required).
  endpoint listen;
  /// [cluster] head-address: what nodes join ({head}); defaults to `listen`,
  /// required when `listen` is a wildcard address (0.0.0.0, ::).
  endpoint head_address;
  /// [cluster] workers: the head's own local workers (0: none).
  uint32_t head_workers = 0;
  /// [cluster] join-timeout: how long `up` waits for every node to join.
  std::chrono::milliseconds join_timeout{60000};
  /// [cluster] pid-file, absolute; empty means `default_pid_file(path)`.
  std::string pid_file;
  /// [cluster] ca, cert, key (absolute) and insecure.
  tls_options tls;
  /// The [node.NAME] sections, ordered by name.
  std::vector<node_spec> nodes;
  /// The [pyactor] section (pool options of the head and of local nodes).
  runtime_options pool;
};

/// Reads and validates `path`: every section and key is checked (the error
/// names the file, section, key, the value and what was expected; unknown
/// and repeated keys or sections are errors). Relative file names in
/// [cluster] are taken relative to the config file's directory.
result<cluster_config> read_cluster_config(const std::string& path);

/// The placeholders a launch template may use.
const std::vector<std::string>& launch_placeholders();

/// Checks a launch template: only known placeholders, balanced braces. The
/// error says which placeholder or brace is wrong.
result<bool> check_launch_template(const std::string& launch);

} // namespace pyactor::cluster
