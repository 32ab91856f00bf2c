#include "pyactor/runtime_options.hpp"

#include <fstream>
#include <set>

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

namespace pyactor {

namespace {

using caf::config_value;

error config_error(const std::string& path, const std::string& key, const config_value& got,
                   const std::string& expected) {
  return make_error(errc::bad_request, path + ": [pyactor] " + key + " must be " + expected
                                         + ", got " + caf::to_string(got));
}

template <class T>
const T* value_if(const config_value& x) {
  return caf::get_if<T>(&x.get_data());
}

template <class Int>
result<bool> read_count(const std::string& path, const std::string& key, const config_value& x,
                        int64_t low, int64_t high, Int& out) {
  auto n = value_if<config_value::integer>(x);
  if (n == nullptr || *n < low || *n > high)
    return config_error(path, key, x,
                        "an integer from " + std::to_string(low) + " to " + std::to_string(high));
  out = static_cast<Int>(*n);
  return true;
}

result<bool> read_duration(const std::string& path, const std::string& key,
                           const config_value& x, std::chrono::milliseconds& out) {
  auto t = value_if<config_value::timespan>(x);
  if (t == nullptr || t->count() <= 0)
    return config_error(path, key, x, "a positive duration such as 500ms, 30s or 5min");
  out = std::chrono::duration_cast<std::chrono::milliseconds>(*t);
  if (out.count() == 0)
    out = std::chrono::milliseconds(1);
  return true;
}

result<bool> read_string(const std::string& path, const std::string& key, const config_value& x,
                         std::string& out) {
  if (auto s = value_if<std::string>(x)) {
    out = *s;
    return true;
  }
  if (auto a = value_if<caf::atom_value>(x)) {
    out = caf::to_string(*a);
    return true;
  }
  return config_error(path, key, x, "a double-quoted string");
}

result<bool> read_string_list(const std::string& path, const std::string& key,
                              const config_value& x, std::vector<std::string>& out) {
  auto items = value_if<config_value::list>(x);
  if (items == nullptr)
    return config_error(path, key, x, "a list of double-quoted strings, e.g. [\"a\", \"b\"]");
  out.clear();
  for (auto& item : *items) {
    auto s = value_if<std::string>(item);
    if (s == nullptr)
      return config_error(path, key, x, "a list of double-quoted strings");
    out.push_back(*s);
  }
  return true;
}

result<bool> apply(const std::string& path, const std::string& key, const config_value& x,
                   runtime_options& o) {
  if (key == "workers")
    return read_count(path, key, x, 0, 1024, o.workers);
  if (key == "max-restarts")
    return read_count(path, key, x, 0, 1000, o.max_restarts);
  if (key == "max-objects")
    return read_count(path, key, x, 1, int64_t{1} << 40, o.max_objects);
  if (key == "threads")
    return read_count(path, key, x, 0, 256, o.threads);
  if (key == "pipeline-depth")
    return read_count(path, key, x, 1, 1024, o.pipeline_depth);
  if (key == "max-calls-per-worker")
    return read_count(path, key, x, 0, int64_t{1} << 50, o.max_calls_per_worker);
  if (key == "cwd")
    return read_string(path, key, x, o.cwd);
  if (key == "start-hook")
    return read_string(path, key, x, o.start_hook);
  if (key == "imports")
    return read_string_list(path, key, x, o.imports);
  if (key == "env") {
    auto vars = value_if<config_value::dictionary>(x);
    if (vars == nullptr)
      return config_error(path, key, x, "a map such as { OMP_NUM_THREADS = \"1\" }");
    o.env.clear();
    for (auto& kv : *vars) {
      auto s = value_if<std::string>(kv.second);
      if (s == nullptr)
        return config_error(path, key + "." + kv.first, kv.second, "a double-quoted string");
      o.env.emplace_back(kv.first, *s);
    }
    return true;
  }
  if (key == "timeout")
    return read_duration(path, key, x, o.default_timeout);
  if (key == "interrupt-grace")
    return read_duration(path, key, x, o.interrupt_grace);
  if (key == "restart-window")
    return read_duration(path, key, x, o.restart_window);
  if (key == "worker-executable")
    return read_string(path, key, x, o.worker_executable);
  if (key == "python")
    return read_string(path, key, x, o.python);
  if (key == "policy")
    return read_string(path, key, x, o.policy);
  if (key == "python-path")
    return read_string_list(path, key, x, o.python_path);
  return make_error(errc::bad_request,
                    path + ": unknown option [pyactor] " + key
                      + " (known: workers, worker-executable, python, python-path, timeout, "
                        "interrupt-grace, max-restarts, restart-window, policy, max-objects, "
                        "threads, pipeline-depth, max-calls-per-worker, env, cwd, imports, "
                        "start-hook)");
}

} // namespace

result<runtime_options> runtime_options::from_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::bad_request, "cannot read config file '" + path + "'");
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
      if (auto r = apply(path, kv.first, kv.second, options); !r)
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
