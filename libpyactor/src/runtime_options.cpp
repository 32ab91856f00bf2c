#include "pyactor/runtime_options.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include "pyactor/cluster_config.hpp"

namespace pyactor {

namespace {

using caf::config_value;

/// A section of a config file being read: the file's path, the section's
/// name, and the text of each `key = value` line of it as written (the
/// parsed form loses it: an overflowing duration wraps, -5s prints as 0d).
struct config_file {
  const std::string& path;
  std::string section;
  const std::map<std::string, std::string>& raw;
};

/// Every section of a file as written: section -> key -> value text.
using raw_sections = std::map<std::string, std::map<std::string, std::string>>;

error config_error(const config_file& file, const std::string& key, const config_value& got,
                   const std::string& expected) {
  std::string text;
  if (auto i = file.raw.find(key); i != file.raw.end())
    text = i->second;
  if (text.empty())
    text = caf::to_string(got);
  return make_error(errc::bad_request, file.path + ": [" + file.section + "] " + key
                                         + " must be " + expected + ", got " + text);
}

std::string trim(const std::string& x) {
  auto first = x.find_first_not_of(" \t\r");
  if (first == std::string::npos)
    return {};
  auto last = x.find_last_not_of(" \t\r");
  return x.substr(first, last - first + 1);
}

/// Sections that may appear once only: CAF keeps just the last of two
/// [node.x] sections, which would drop a node silently.
bool single_section(const std::string& name) {
  return name == "cluster" || name.rfind("node.", 0) == 0;
}

/// Reads the `key = value` lines of `in` as written. A key set twice in a
/// section, or a [cluster] or [node.NAME] section given twice, is an error
/// naming both lines. Continuation lines of lists and maps are not keys
/// (they hold no '=' before a quote or bracket).
result<raw_sections> scan_keys(const std::string& path, std::istream& in) {
  raw_sections values;
  std::map<std::string, std::map<std::string, size_t>> lines;
  std::map<std::string, size_t> section_lines;
  std::string line, section;
  size_t no = 0;
  int open_brackets = 0; // inside a multi-line [...] or {...}
  while (std::getline(in, line)) {
    ++no;
    auto text = trim(line);
    if (text.empty() || text[0] == ';' || text[0] == '#')
      continue;
    if (open_brackets == 0 && text[0] == '[' && text.back() == ']') {
      section = trim(text.substr(1, text.size() - 2));
      auto [seen, fresh] = section_lines.emplace(section, no);
      if (!fresh && single_section(section))
        return make_error(errc::bad_request,
                          path + ":" + std::to_string(no) + ": [" + section
                            + "] is given twice (first on line " + std::to_string(seen->second)
                            + "); each section once, each node under its own name");
      continue;
    }
    auto eq = text.find('=');
    bool is_key = open_brackets == 0 && eq != std::string::npos && eq > 0
                  && text.find_first_of("\"[{", 0) > eq;
    std::string rest = is_key ? text.substr(eq + 1) : text;
    bool quoted = false;
    for (char c : rest) { // track brackets outside quoted strings
      if (c == '"')
        quoted = !quoted;
      else if (!quoted && (c == '[' || c == '{'))
        ++open_brackets;
      else if (!quoted && (c == ']' || c == '}'))
        --open_brackets;
    }
    if (!is_key)
      continue;
    auto key = trim(text.substr(0, eq));
    auto& section_keys = lines[section];
    if (auto seen = section_keys.find(key); seen != section_keys.end())
      return make_error(errc::bad_request,
                        path + ":" + std::to_string(no) + ": [" + section + "] " + key
                          + " is set twice (first on line " + std::to_string(seen->second)
                          + "); keep one");
    section_keys.emplace(key, no);
    values[section].emplace(key, "'" + trim(rest) + "'");
  }
  return values;
}

/// Parses a duration as written: an integer and one of ns, us, ms, s, min,
/// h. Returns false for anything else (a sign, a fraction, no unit).
bool parse_duration_text(std::string text, std::chrono::nanoseconds& out) {
  if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'')
    text = text.substr(1, text.size() - 2);
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
    ++digits;
  if (digits == 0 || digits > 12)
    return false;
  long double n = std::stold(text.substr(0, digits));
  auto unit = trim(text.substr(digits));
  static const std::pair<const char*, long double> units[] = {
    {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"min", 60e9}, {"h", 3600e9}};
  for (auto& [name, scale] : units)
    if (unit == name) {
      long double ns = n * scale;
      if (ns > 1e18L) // far past any limit below, and still fits in int64
        ns = 1e18L;
      out = std::chrono::nanoseconds(static_cast<int64_t>(ns));
      return true;
    }
  return false;
}

template <class T>
const T* value_if(const config_value& x) {
  return caf::get_if<T>(&x.get_data());
}

template <class Int>
result<bool> read_count(const config_file& file, const std::string& key, const config_value& x,
                        int64_t low, int64_t high, Int& out) {
  auto n = value_if<config_value::integer>(x);
  if (n == nullptr || *n < low || *n > high)
    return config_error(file, key, x,
                        "an integer from " + std::to_string(low) + " to " + std::to_string(high));
  out = static_cast<Int>(*n);
  return true;
}

/// Longest duration an option takes (call deadlines travel as 32-bit ms).
constexpr auto max_duration = std::chrono::hours(24 * 24);

result<bool> read_duration(const config_file& file, const std::string& key,
                           const config_value& x, std::chrono::milliseconds& out) {
  const char* expected = "a duration from 1ms to 576h (24 days), such as 500ms, 30s or 5min";
  auto t = value_if<config_value::timespan>(x);
  std::chrono::nanoseconds ns{0};
  // The text as written decides: the parsed timespan wraps on overflow.
  bool have_text = file.raw.count(key) > 0;
  if (t == nullptr || (have_text && !parse_duration_text(file.raw.at(key), ns)))
    return config_error(file, key, x, expected);
  if (!have_text)
    ns = *t;
  if (ns < std::chrono::milliseconds(1) || ns > max_duration)
    return config_error(file, key, x, expected);
  out = std::chrono::duration_cast<std::chrono::milliseconds>(ns);
  return true;
}

result<bool> read_string(const config_file& file, const std::string& key, const config_value& x,
                         std::string& out) {
  if (auto s = value_if<std::string>(x)) {
    out = *s;
    return true;
  }
  if (auto a = value_if<caf::atom_value>(x)) {
    out = caf::to_string(*a);
    return true;
  }
  return config_error(file, key, x, "a double-quoted string");
}

result<bool> read_string_list(const config_file& file, const std::string& key,
                              const config_value& x, std::vector<std::string>& out) {
  auto items = value_if<config_value::list>(x);
  if (items == nullptr)
    return config_error(file, key, x, "a list of double-quoted strings, e.g. [\"a\", \"b\"]");
  out.clear();
  for (auto& item : *items) {
    auto s = value_if<std::string>(item);
    if (s == nullptr)
      return config_error(file, key, x, "a list of double-quoted strings");
    out.push_back(*s);
  }
  return true;
}

result<bool> apply(const config_file& file, const std::string& key, const config_value& x,
                   runtime_options& o) {
  if (key == "workers")
    return read_count(file, key, x, 0, 1024, o.workers);
  if (key == "max-restarts")
    return read_count(file, key, x, 0, 1000, o.max_restarts);
  if (key == "max-objects")
    return read_count(file, key, x, 1, int64_t{1} << 40, o.max_objects);
  if (key == "threads")
    return read_count(file, key, x, 0, 256, o.threads);
  if (key == "pipeline-depth")
    return read_count(file, key, x, 1, 1024, o.pipeline_depth);
  if (key == "max-calls-per-worker")
    return read_count(file, key, x, 0, int64_t{1} << 50, o.max_calls_per_worker);
  if (key == "cwd")
    return read_string(file, key, x, o.cwd);
  if (key == "start-hook")
    return read_string(file, key, x, o.start_hook);
  if (key == "imports")
    return read_string_list(file, key, x, o.imports);
  if (key == "env") {
    auto vars = value_if<config_value::dictionary>(x);
    if (vars == nullptr)
      return config_error(file, key, x, "a map such as { OMP_NUM_THREADS = \"1\" }");
    o.env.clear();
    for (auto& kv : *vars) {
      auto s = value_if<std::string>(kv.second);
      if (s == nullptr)
        return config_error(file, key + "." + kv.first, kv.second, "a double-quoted string");
      o.env.emplace_back(kv.first, *s);
    }
    return true;
  }
  if (key == "timeout")
    return read_duration(file, key, x, o.default_timeout);
  if (key == "interrupt-grace")
    return read_duration(file, key, x, o.interrupt_grace);
  if (key == "start-timeout")
    return read_duration(file, key, x, o.start_timeout);
  if (key == "restart-window")
    return read_duration(file, key, x, o.restart_window);
  if (key == "worker-executable")
    return read_string(file, key, x, o.worker_executable);
  if (key == "python")
    return read_string(file, key, x, o.python);
  if (key == "policy")
    return read_string(file, key, x, o.policy);
  if (key == "python-path")
    return read_string_list(file, key, x, o.python_path);
  return make_error(errc::bad_request,
                    file.path + ": unknown option [pyactor] " + key
                      + " (known: workers, worker-executable, python, python-path, timeout, "
                        "interrupt-grace, start-timeout, max-restarts, restart-window, policy, max-objects, "
                        "threads, pipeline-depth, max-calls-per-worker, env, cwd, imports, "
                        "start-hook)");
}

bool is_name(const std::string& x) {
  return !x.empty() && x.size() <= 64
         && x.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
              == std::string::npos;
}

/// A host for {host}: a name or address, optionally user@, nothing a shell
/// would interpret.
bool is_host(const std::string& x) {
  return !x.empty() && x.size() <= 255
         && x.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@[]")
              == std::string::npos;
}

bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

/// `name` made absolute against the config file's directory.
std::string relative_to(const std::string& config_path, const std::string& name) {
  if (name.empty() || name.front() == '/')
    return name;
  auto slash = config_path.rfind('/');
  return slash == std::string::npos ? name : config_path.substr(0, slash + 1) + name;
}

result<bool> read_endpoint(const config_file& file, const std::string& key,
                           const config_value& x, cluster::endpoint& out) {
  auto s = value_if<std::string>(x);
  auto ep = cluster::parse_endpoint(s ? *s : std::string{});
  if (s == nullptr || !ep)
    return config_error(file, key, x,
                        "a double-quoted \"ADDR:PORT\" (port 1 to 65535), e.g. \"127.0.0.1:7420\"");
  out = ep.value();
  return true;
}

result<bool> apply_cluster(const config_file& file, const std::string& key, const config_value& x,
                           cluster::cluster_config& c) {
  if (key == "listen")
    return read_endpoint(file, key, x, c.listen);
  if (key == "head-address")
    return read_endpoint(file, key, x, c.head_address);
  if (key == "workers")
    return read_count(file, key, x, 0, 1024, c.head_workers);
  if (key == "join-timeout")
    return read_duration(file, key, x, c.join_timeout);
  if (key == "insecure") {
    auto b = value_if<bool>(x);
    if (b == nullptr)
      return config_error(file, key, x, "true or false");
    c.tls.insecure = *b;
    return true;
  }
  std::string* target = key == "pid-file" ? &c.pid_file
                        : key == "ca"     ? &c.tls.ca
                        : key == "cert"   ? &c.tls.cert
                        : key == "key"    ? &c.tls.key
                                          : nullptr;
  if (target == nullptr)
    return make_error(errc::bad_request,
                      file.path + ": unknown option [cluster] " + key
                        + " (known: listen, head-address, workers, join-timeout, pid-file, ca, "
                          "cert, key, insecure)");
  if (auto r = read_string(file, key, x, *target); !r)
    return r;
  if (target->empty())
    return config_error(file, key, x, "a file name (leave the key out for the default)");
  *target = relative_to(file.path, *target);
  return true;
}

result<bool> apply_node(const config_file& file, const std::string& key, const config_value& x,
                        cluster::node_spec& n) {
  if (key == "workers")
    return read_count(file, key, x, 1, 1024, n.workers);
  if (key == "host") {
    if (auto r = read_string(file, key, x, n.host); !r)
      return r;
    if (!is_host(n.host))
      return config_error(file, key, x,
                          "a host name or address, optionally with user@ (letters, digits and "
                          "-_.:@[] only)");
    return true;
  }
  if (key == "launch") {
    if (auto r = read_string(file, key, x, n.launch); !r)
      return r;
    if (n.launch.find_first_not_of(" \t") == std::string::npos)
      return config_error(file, key, x,
                          "a command, e.g. \"ssh {host} pyactor node --join {head} --name "
                          "{name} --workers {workers}\" (leave the key out to start the node "
                          "on this machine)");
    if (auto ok = cluster::check_launch_template(n.launch); !ok)
      return make_error(errc::bad_request, file.path + ": [" + file.section + "] launch: "
                                             + ok.error().message);
    return true;
  }
  return make_error(errc::bad_request, file.path + ": unknown option [" + file.section + "] "
                                         + key + " (known: host, workers, launch)");
}

/// Reads and checks every section of `path` into `options` and `cluster`.
result<bool> read_config(const std::string& path, runtime_options& options,
                         cluster::cluster_config& cluster, bool& has_cluster) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(errc::bad_request,
                      "cannot read config file '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode))
    return make_error(errc::bad_request,
                      "config file '" + path + "' is a directory; expected an INI file");
  std::ifstream file{path};
  if (!file)
    return make_error(errc::bad_request,
                      "cannot read config file '" + path + "': " + std::strerror(errno));
  // Read once (the path may be a pipe), then scan the text twice.
  std::stringstream text;
  text << file.rdbuf();
  auto raw = scan_keys(path, text);
  if (!raw)
    return raw.error();
  auto raw_of = [&](const std::string& section) -> const std::map<std::string, std::string>& {
    static const std::map<std::string, std::string> none;
    auto i = raw.value().find(section);
    return i == raw.value().end() ? none : i->second;
  };
  text.clear();
  text.seekg(0);
  auto& in = text;
  auto parsed = caf::actor_system_config::parse_config(in);
  if (!parsed)
    return make_error(errc::bad_request,
                      path + ": not a valid INI config: " + caf::to_string(parsed.error()));
  const char* known = " (pyactor reads [pyactor], [cluster] and [node.NAME])";
  for (auto& section : *parsed) {
    auto keys = value_if<config_value::dictionary>(section.second);
    if (section.first == "global") {
      // Only sections we know; a typo must not pass silently.
      if (keys == nullptr || !keys->empty())
        return make_error(errc::bad_request, path + ": keys before the first section" + known);
      continue;
    }
    if (keys == nullptr)
      return make_error(errc::bad_request, path + ": [" + section.first + "] must be a section");
    if (section.first == "pyactor") {
      config_file source{path, "pyactor", raw_of("pyactor")};
      for (auto& kv : *keys)
        if (auto r = apply(source, kv.first, kv.second, options); !r)
          return r.error();
    } else if (section.first == "cluster") {
      has_cluster = true;
      config_file source{path, "cluster", raw_of("cluster")};
      for (auto& kv : *keys)
        if (auto r = apply_cluster(source, kv.first, kv.second, cluster); !r)
          return r.error();
    } else if (section.first == "node") {
      for (auto& kv : *keys) { // [node.NAME] sections nest under "node"
        auto node_keys = value_if<config_value::dictionary>(kv.second);
        if (node_keys == nullptr)
          return make_error(errc::bad_request,
                            path + ": [node] " + kv.first
                              + ": a node is a section of its own, [node.NAME]");
        if (!is_name(kv.first) || kv.first == "head")
          return make_error(errc::bad_request,
                            path + ": [node." + kv.first
                              + "]: a node name is 1 to 64 letters, digits, '-' or '_', and not "
                                "\"head\" (the head's own workers)");
        cluster::node_spec node;
        node.name = kv.first;
        config_file source{path, "node." + kv.first, raw_of("node." + kv.first)};
        for (auto& nk : *node_keys)
          if (auto r = apply_node(source, nk.first, nk.second, node); !r)
            return r.error();
        cluster.nodes.push_back(std::move(node));
      }
    } else {
      return make_error(errc::bad_request,
                        path + ": unknown section [" + section.first + "]" + known);
    }
  }
  if (auto r = options.validate(); !r)
    return make_error(errc::bad_request, path + ": " + r.error().message);
  if (auto r = cluster.tls.validate(); !r)
    return make_error(errc::bad_request, path + ": [cluster] " + r.error().message);
  return true;
}

} // namespace

result<runtime_options> runtime_options::from_file(const std::string& path) {
  runtime_options options;
  cluster::cluster_config cluster; // checked here, used by `pyactor up`
  bool has_cluster = false;
  if (auto r = read_config(path, options, cluster, has_cluster); !r)
    return r.error();
  return options;
}

namespace cluster {

const std::vector<std::string>& launch_placeholders() {
  static const std::vector<std::string> names{"pyactor", "head", "name", "workers", "host"};
  return names;
}

result<bool> check_launch_template(const std::string& launch) {
  auto known = [] {
    std::string all;
    for (auto& p : launch_placeholders())
      all += (all.empty() ? "{" : ", {") + p + "}";
    return all + "; write {{ and }} for literal braces";
  };
  for (size_t i = 0; i < launch.size(); ++i) {
    if (launch.compare(i, 2, "{{") == 0 || launch.compare(i, 2, "}}") == 0) {
      ++i;
      continue;
    }
    if (launch[i] == '}')
      return make_error(errc::bad_request, "a '}' without its '{' at offset " + std::to_string(i)
                                              + " (known placeholders: " + known() + ")");
    if (launch[i] != '{')
      continue;
    auto close = launch.find('}', i);
    if (close == std::string::npos)
      return make_error(errc::bad_request, "a '{' without its '}' at offset " + std::to_string(i)
                                              + " (known placeholders: " + known() + ")");
    auto name = launch.substr(i + 1, close - i - 1);
    auto& names = launch_placeholders();
    if (std::find(names.begin(), names.end(), name) == names.end())
      return make_error(errc::bad_request, "unknown placeholder {" + name
                                              + "} (known: " + known() + ")");
    i = close;
  }
  return true;
}

result<cluster_config> read_cluster_config(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr)
    return make_error(errc::bad_request,
                      "cannot read config file '" + path + "': " + std::strerror(errno));
  cluster_config c;
  c.path = resolved;
  bool has_cluster = false;
  if (auto r = read_config(c.path, c.pool, c, has_cluster); !r)
    return r.error();
  if (!has_cluster || c.listen.host.empty())
    return make_error(errc::bad_request,
                      c.path + ": [cluster] listen is required: where the head listens, e.g. "
                               "listen = \"127.0.0.1:7420\" (see config/cluster-local.ini)");
  if (c.head_address.host.empty()) {
    if (is_wildcard(c.listen.host))
      return make_error(errc::bad_request,
                        c.path + ": [cluster] head-address is required when listen is "
                          + c.listen.to_string()
                          + ": the ADDR:PORT the nodes join ({head}), e.g. \"10.0.0.1:"
                          + std::to_string(c.listen.port) + "\"");
    c.head_address = c.listen;
  }
  if (c.nodes.empty())
    return make_error(errc::bad_request,
                      c.path + ": no [node.NAME] section: `pyactor up` starts the head and the "
                               "nodes the config names");
  return c;
}

} // namespace cluster

result<bool> runtime_options::validate() const {
  if (workers > 1024)
    return make_error(errc::bad_request,
                      "workers must be from 0 (one per core) to 1024, got " + std::to_string(workers));
  if (policy != "round-robin" && policy != "least-loaded" && policy != "random"
      && policy != "affinity")
    return make_error(errc::bad_request, "policy must be \"least-loaded\", \"round-robin\", "
                                         "\"random\" or \"affinity\", got \"" + policy + "\"");
  if (pipeline_depth == 0)
    return make_error(errc::bad_request, "pipeline-depth must be at least 1");
  if (!start_hook.empty() && start_hook.find('.') == std::string::npos)
    return make_error(errc::bad_request,
                      "start-hook must be \"module.function\", got \"" + start_hook + "\"");
  if (max_objects == 0)
    return make_error(errc::bad_request, "max-objects must be at least 1");
  if (default_timeout.count() <= 0)
    return make_error(errc::bad_request, "timeout must be positive, got "
                                           + std::to_string(default_timeout.count()) + " ms");
  return true;
}

} // namespace pyactor
