// The `call`, `eval`, `versions` and `status` commands.
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "pyactor/codec/literal.hpp"

namespace pyactor::cli {

int print_result(const result<value>& r) {
  if (r) {
    std::cout << r.value().to_string() << "\n";
    return ok;
  }
  const auto& e = r.error();
  std::cerr << "pyactor: " << e.to_string() << "\n";
  if (!e.traceback.empty())
    std::cerr << e.traceback;
  return call_failed;
}

std::unique_ptr<runtime> start_runtime(const runtime_options& options) {
  auto rt = runtime::start(options);
  if (!rt) {
    std::cerr << "pyactor: cannot start the pool: " << rt.error().to_string() << "\n";
    return nullptr;
  }
  return std::move(rt).value();
}


bool wants_help(const invocation& inv, const char* text) {
  for (size_t i = 0; i < inv.args.size() && i < inv.operands_from; ++i)
    if (inv.args[i] == "--help") {
      std::cout << text;
      return true;
    }
  return false;
}

int usage_error(const std::string& message, const char* text) {
  std::cerr << "pyactor: " << message << "\n" << text;
  return usage;
}

bool split_target(const std::string& target, std::string& module, std::string& function) {
  auto dot = target.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == target.size())
    return false;
  module = target.substr(0, dot);
  function = target.substr(dot + 1);
  return true;
}

namespace {

/// Literals into `args`, `--kw NAME=VALUE` into `kwargs`; returns what was
/// wrong, or an empty string. Words from `operands_from` on are literals only.
std::string parse_call_args(const std::vector<std::string>& words, size_t first,
                            size_t operands_from, list& args, dict& kwargs) {
  for (size_t i = first; i < words.size(); ++i) {
    bool option_allowed = i < operands_from;
    if (option_allowed && words[i] == "--kw") {
      if (i + 1 == words.size() || words[i + 1].find('=') == std::string::npos
          || words[i + 1].front() == '=')
        return "--kw expects NAME=VALUE";
      auto& kw = words[++i];
      auto eq = kw.find('=');
      auto parsed = codec::parse_literal(kw.substr(eq + 1));
      if (!parsed)
        return "--kw " + kw + ": the value is not a literal (" + parsed.error().message + ")";
      kwargs.items.emplace_back(value{kw.substr(0, eq)}, std::move(parsed).value());
      continue;
    }
    if (option_allowed && words[i].size() > 2 && words[i].compare(0, 2, "--") == 0)
      return "unknown option " + words[i] + " (put -- before arguments that start with -)";
    auto parsed = codec::parse_literal(words[i]);
    if (!parsed)
      return "argument '" + words[i] + "' is not a literal: " + parsed.error().message;
    args.push_back(std::move(parsed).value());
  }
  return {};
}

} // namespace

bool read_call_spec(const invocation& inv, const char* command, const char* example,
                    const char* help, call_spec& spec) {
  if (inv.args.empty() || !split_target(inv.args.front(), spec.module, spec.function)) {
    usage_error(std::string{command} + " expects MODULE.FUNC (e.g. " + example + "), got '"
                  + (inv.args.empty() ? std::string{} : inv.args.front()) + "'",
                help);
    return false;
  }
  if (auto problem = parse_call_args(inv.args, 1, inv.operands_from, spec.args, spec.kwargs);
      !problem.empty()) {
    usage_error(problem, help);
    return false;
  }
  return true;
}

int run_call(const invocation& inv) {
  const char* help = "usage: pyactor call MODULE.FUNC [ARG...] [--kw NAME=VALUE]... [-- ARG...]\n"
                     "  Arguments after -- are literals even if they start with - (e.g. -h).\n"
                     "  e.g. pyactor call math.pow 2 16\n"
                     "       pyactor call builtins.int '\"101010\"' --kw base=2\n"
                     "       pyactor call builtins.str -- -h\n";
  if (wants_help(inv, help))
    return ok;
  call_spec spec;
  if (!read_call_spec(inv, "call", "math.pow", help, spec))
    return usage;
  auto rt = start_runtime(inv.options);
  if (!rt)
    return usage;
  return print_result(rt->call(spec.module, spec.function, spec.args, spec.kwargs));
}

int run_eval(const invocation& inv) {
  const char* help = "usage: pyactor eval EXPR\n  e.g. pyactor eval 'sum(range(10))'\n";
  if (wants_help(inv, help))
    return ok;
  if (inv.args.size() != 1)
    return usage_error("eval expects exactly one expression (quote it), got "
                         + std::to_string(inv.args.size()) + " arguments",
                       help);
  auto rt = start_runtime(inv.options);
  return rt ? print_result(rt->eval(inv.args.front())) : int{usage};
}

int run_versions(const invocation& inv) {
  const char* help = "usage: pyactor versions\n";
  if (wants_help(inv, help))
    return ok;
  if (!inv.args.empty())
    return usage_error("versions takes no arguments", help);
  auto rt = start_runtime(inv.options);
  return rt ? print_result(rt->versions()) : int{usage};
}

int run_status(const invocation& inv) {
  const char* help = "usage: pyactor status\n";
  if (wants_help(inv, help))
    return ok;
  if (!inv.args.empty())
    return usage_error("status takes no arguments", help);
  auto rt = start_runtime(inv.options);
  if (!rt)
    return usage;
  std::cout << "policy: " << rt->options().policy << "\n"
            << std::left << std::setw(4) << "id" << std::setw(9) << "pid" << std::setw(11)
            << "state" << std::setw(8) << "served" << std::setw(10) << "in-flight"
            << std::setw(10) << "restarts" << "rss\n";
  for (auto& w : rt->status())
    std::cout << std::setw(4) << w.id << std::setw(9) << w.pid << std::setw(11) << w.state
              << std::setw(8) << w.served << std::setw(10) << w.in_flight << std::setw(10)
              << w.restarts << (w.rss_bytes >> 20) << " MiB\n";
  for (auto& r : rt->restarts())
    std::cout << "restart of worker " << r.worker << (r.given_up ? " (given up): " : ": ")
              << r.reason << "\n";
  return ok;
}

} // namespace pyactor::cli
