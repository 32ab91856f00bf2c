#include "pyactor/runtime_options.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

namespace pyactor {

namespace {

using caf::config_value;

/// A config file being read: its path, and the text of each `key = value`
/// line of [pyactor] as written (the parsed form loses it: an overflowing
/// duration wraps, -5s prints as 0d).
struct config_file {
  const std::string& path;
  const std::map<std::string, std::string>& raw;
};

error config_error(const config_file& file, const std::string& key, const config_value& got,
                   const std::string& expected) {
  std::string text;
  if (auto i = file.raw.find(key); i != file.raw.end())
    text = i->second;
  if (text.empty())
    text = caf::to_string(got);
  return make_error(errc::bad_request,
                    file.path + ": [pyactor] " + key + " must be " + expected + ", got " + text);
}

std::string trim(const std::string& x) {
  auto first = x.find_first_not_of(" \t\r");
  if (first == std::string::npos)
    return {};
  auto last = x.find_last_not_of(" \t\r");
  return x.substr(first, last - first + 1);
}

/// Reads the [pyactor] lines of `in` as written: key -> value text. A key
/// set twice is an error naming both lines. Continuation lines of lists
/// and maps are not keys (they hold no '=' before a quote or bracket).
result<std::map<std::string, std::string>> scan_keys(const std::string& path, std::istream& in) {
  std::map<std::string, std::string> values;
  std::map<std::string, size_t> lines;
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
    if (!is_key || section != "pyactor")
      continue;
    auto key = trim(text.substr(0, eq));
    if (auto seen = lines.find(key); seen != lines.end())
      return make_error(errc::bad_request,
                        path + ":" + std::to_string(no) + ": [pyactor] " + key
                          + " is set twice (first on line " + std::to_string(seen->second)
                          + "); keep one");
    lines.emplace(key, no);
    values.emplace(key, "'" + trim(rest) + "'");
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

} // namespace

result<runtime_options> runtime_options::from_file(const std::string& path) {
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
  config_file source{path, raw.value()};
  text.clear();
  text.seekg(0);
  auto& in = text;
  auto parsed = caf::actor_system_config::parse_config(in);
  if (!parsed)
    return make_error(errc::bad_request,
                      path + ": not a valid INI config: " + caf::to_string(parsed.error()));
  runtime_options options;
  for (auto& section : *parsed) {
    if (section.first != "pyactor") {
      // Only sections we know; a typo must not pass silently.
      if (section.first != "global" || !value_if<config_value::dictionary>(section.second)
          || !value_if<config_value::dictionary>(section.second)->empty())
        return make_error(errc::bad_request, path + ": unknown section [" + section.first
                                               + "] (pyactor reads [pyactor])");
      continue;
    }
    auto keys = value_if<config_value::dictionary>(section.second);
    if (keys == nullptr)
      return make_error(errc::bad_request, path + ": [pyactor] must be a section");
    for (auto& kv : *keys)
      if (auto r = apply(source, kv.first, kv.second, options); !r)
        return r.error();
  }
  if (auto r = options.validate(); !r)
    return make_error(errc::bad_request, path + ": " + r.error().message);
  return options;
}

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
