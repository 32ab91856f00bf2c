// The `broadcast` and `map` commands.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cli.hpp"
#include "pyactor/codec/literal.hpp"

namespace pyactor::cli {

namespace {

std::string render(const result<value>& r) {
  return r ? r.value().to_string() : "error " + r.error().to_string();
}

/// Draws a progress bar on a terminal, or prints a plain line now and then.
class progress_printer {
public:
  progress_printer() : tty_(::isatty(STDERR_FILENO) == 1) {}

  void operator()(const map_progress& p) {
    std::ostringstream line;
    line << std::fixed << std::setprecision(0);
    if (p.total > 0) {
      double share = static_cast<double>(p.done) / static_cast<double>(p.total);
      if (tty_) {
        int filled = static_cast<int>(share * 30);
        line << "[" << std::string(filled, '#') << std::string(30 - filled, '.') << "] ";
      }
      line << std::setw(3) << share * 100 << "% " << p.done << "/" << p.total;
    } else {
      line << p.done << " done";
    }
    line << ", " << p.items_per_second << "/s";
    if (p.eta_seconds >= 0)
      line << ", ETA " << std::ceil(p.eta_seconds) << "s";
    if (p.failed > 0)
      line << ", " << p.failed << " failed";
    if (tty_)
      std::cerr << "\r" << line.str() << "\x1b[K" << std::flush;
    else
      std::cerr << "pyactor map: " << line.str() << "\n";
  }

  void finish() {
    if (tty_)
      std::cerr << "\n";
  }

  bool on_terminal() const { return tty_; }

private:
  bool tty_;
};

/// Reads one JSON argument list per line; blank lines are skipped.
class line_source {
public:
  explicit line_source(std::istream& in) : in_(in) {}

  bool next(list& args) {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_no_;
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      auto parsed = codec::parse_literal(line);
      if (!parsed || !parsed.value().is<list>()) {
        problem_ = "line " + std::to_string(line_no_) + ": expected a JSON list of arguments, got "
                   + (parsed ? parsed.value().type_name() : parsed.error().message);
        return false;
      }
      args = parsed.value().as<list>();
      return true;
    }
    return false;
  }

  const std::string& problem() const { return problem_; }

private:
  std::istream& in_;
  size_t line_no_ = 0;
  std::string problem_;
};

size_t count_lines(const std::string& path) {
  std::ifstream in{path};
  size_t n = 0;
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      ++n;
  return n;
}

} // namespace

int run_broadcast(const invocation& inv) {
  const char* help = "usage: pyactor broadcast MODULE.FUNC [ARG...] [--kw NAME=VALUE]...\n"
                     "  The same call on every worker; prints one line per worker.\n"
                     "  e.g. pyactor broadcast os.getpid\n";
  if (wants_help(inv, help))
    return ok;
  call_spec spec;
  if (!read_call_spec(inv, "broadcast", "os.getpid", help, spec))
    return usage;
  auto rt = start_runtime(inv.options);
  if (!rt)
    return usage;
  int code = ok;
  for (auto& reply : rt->broadcast(spec.module, spec.function, spec.args, spec.kwargs)) {
    std::cout << "worker " << reply.worker << ": " << render(reply.outcome) << "\n";
    if (!reply.outcome)
      code = call_failed;
  }
  return code;
}

int run_map(const invocation& inv) {
  const char* help =
    "usage: pyactor [--connect ADDR:PORT] map MODULE.FUNC --from FILE|- [--chunk N]\n"
    "                 [--ordered|--as-completed] [--retry]\n"
    "  Calls MODULE.FUNC once per input line; each line is a JSON list of arguments.\n"
    "  --ordered (default) prints results in input order, one per line;\n"
    "  --as-completed prints INDEX<TAB>RESULT as results finish.\n"
    "  --retry runs the items of a chunk lost with its worker (or its node, with\n"
    "  --connect) again, one by one; only for functions safe to repeat.\n"
    "  --connect runs it on a cluster's workers through its head.\n"
    "  Progress goes to stderr. e.g.: seq 1 1000 | sed 's/.*/[&]/' | pyactor map math.sqrt --from -\n";
  if (wants_help(inv, help))
    return ok;
  std::string module, function, from;
  map_options opts;
  for (size_t i = 1; i < inv.args.size(); ++i) {
    const auto& a = inv.args[i];
    if (a == "--from" && i + 1 < inv.args.size()) {
      from = inv.args[++i];
    } else if (a == "--chunk" && i + 1 < inv.args.size()) {
      char* end = nullptr;
      long n = std::strtol(inv.args[++i].c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 1000000)
        return usage_error("--chunk expects an integer from 1 to 1000000, got '" + inv.args[i] + "'",
                           help);
      opts.chunk = static_cast<size_t>(n);
    } else if (a == "--ordered") {
      opts.ordered = true;
    } else if (a == "--as-completed") {
      opts.ordered = false;
    } else if (a == "--retry") {
      opts.retry_on_crash = true;
    } else {
      return usage_error("unexpected argument '" + a + "'", help);
    }
  }
  if (inv.args.empty() || !split_target(inv.args.front(), module, function))
    return usage_error("map expects MODULE.FUNC (e.g. math.sqrt)", help);
  if (from.empty())
    return usage_error("map needs --from FILE (or --from - for standard input)", help);
  // The input is read once: a pipe, FIFO or terminal cannot be read twice.
  // Only a regular file is counted first, for a progress bar with a total.
  std::ifstream file;
  size_t total = 0;
  if (from != "-") {
    struct stat st {};
    if (::stat(from.c_str(), &st) != 0)
      return usage_error("cannot read --from '" + from + "': " + std::strerror(errno), help);
    if (S_ISDIR(st.st_mode))
      return usage_error("--from '" + from + "' is a directory; expected a file, a pipe or - "
                         "for standard input", help);
    if (S_ISREG(st.st_mode))
      total = count_lines(from);
    file.open(from);
    if (!file)
      return usage_error("cannot read --from '" + from + "': " + std::strerror(errno), help);
  }
  line_source source{from == "-" ? std::cin : file};
  auto rt = inv.connect.empty() ? start_runtime(inv.options) : connect_runtime(inv);
  if (!rt)
    return usage;
  progress_printer progress;
  opts.on_progress = [&](const map_progress& p) { progress(p); };
  opts.progress_interval = std::chrono::milliseconds(progress.on_terminal() ? 200 : 2000);
  auto summary = rt->starmap(
    module, function, [&](list& args) { return source.next(args); },
    [&](item_result&& r) {
      if (!opts.ordered)
        std::cout << r.index << "\t";
      std::cout << render(r.outcome) << "\n";
    },
    opts, total);
  progress.finish();
  if (!source.problem().empty()) {
    std::cerr << "pyactor: --from " << from << ", " << source.problem() << "\n";
    return usage;
  }
  std::cerr << "pyactor map: " << summary.items << " items, " << summary.failed << " failed\n";
  return summary.failed > 0 ? call_failed : ok;
}

} // namespace pyactor::cli
