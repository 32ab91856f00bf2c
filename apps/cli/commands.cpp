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

namespace {

bool wants_help(const invocation& inv, const char* text) {
  for (auto& a : inv.args)
    if (a == "--help") {
      std::cout << text;
      return true;
    }
  return false;
}

int usage_error(const std::string& message, const char* text) {
  std::cerr << "pyactor: " << message << "\n" << text;
  return usage;
}

} // namespace

int run_call(const invocation& inv) {
  const char* help = "usage: pyactor call MODULE.FUNC [ARG...] [--kw NAME=VALUE]...\n"
                     "  e.g. pyactor call math.pow 2 16\n"
                     "       pyactor call builtins.int '\"101010\"' --kw base=2\n";
  if (wants_help(inv, help))
    return ok;
  if (inv.args.empty())
    return usage_error("call needs MODULE.FUNC", help);
  const auto& target = inv.args.front();
  auto dot = target.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == target.size())
    return usage_error("call expects MODULE.FUNC (e.g. math.pow), got '" + target + "'", help);
  list args;
  for (size_t i = 1; i < inv.args.size(); ++i) {
    auto parsed = codec::parse_literal(inv.args[i]);
    if (!parsed)
      return usage_error("argument " + std::to_string(i) + " ('" + inv.args[i]
                           + "') is not a literal: " + parsed.error().message,
                         help);
    args.push_back(std::move(parsed).value());
  }
  dict kwargs;
  for (auto& kw : inv.kwargs) {
    auto eq = kw.find('=');
    auto parsed = codec::parse_literal(kw.substr(eq + 1));
    if (eq == 0 || !parsed)
      return usage_error("--kw " + kw + ": expected NAME=VALUE with a literal VALUE"
                           + (parsed ? "" : " (" + parsed.error().message + ")"),
                         help);
    kwargs.items.emplace_back(value{kw.substr(0, eq)}, std::move(parsed).value());
  }
  auto rt = start_runtime(inv.options);
  if (!rt)
    return usage;
  return print_result(rt->call(target.substr(0, dot), target.substr(dot + 1), std::move(args),
                               std::move(kwargs)));
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
  return ok;
}

} // namespace pyactor::cli
