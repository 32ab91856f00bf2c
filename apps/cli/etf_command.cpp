// `pyactor etf decode|encode`: the ETF codec on stdin, no runtime needed.
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "pyactor/codec/etf.hpp"

namespace pyactor::cli {

namespace {

const char* etf_help = R"(usage: pyactor etf decode [--python] < TERM.bin
       pyactor etf encode < TERM.bin > CANONICAL.bin

  decode    reads one term in Erlang's external term format (term_to_binary
            output, compressed or not) on stdin and prints it in Erlang syntax;
            --python prints the Python value it maps to instead
  encode    reads one term on stdin and writes it back in canonical form:
            what term_to_binary(T, [{minor_version, 2}]) gives
Bad input exits with status 2 and names the offset and the problem.
)";

/// Reads all of stdin, at most `limit` bytes; false if there is more.
bool read_stdin(std::vector<uint8_t>& out, size_t limit) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n == 0;
    if (out.size() + static_cast<size_t>(n) > limit)
      return false;
    out.insert(out.end(), buf, buf + n);
  }
}

} // namespace

int run_etf(const invocation& inv) {
  if (wants_help(inv, etf_help))
    return ok;
  bool python = false;
  std::string mode;
  for (const auto& a : inv.args) {
    if (a == "--python")
      python = true;
    else if (mode.empty() && (a == "decode" || a == "encode"))
      mode = a;
    else
      return usage_error("etf: unexpected argument '" + a + "'", etf_help);
  }
  if (mode.empty())
    return usage_error("etf expects 'decode' or 'encode'", etf_help);
  if (python && mode != "decode")
    return usage_error("etf: --python only goes with decode", etf_help);
  codec::etf_options options;
  options.mapping = python ? codec::etf_mapping::python : codec::etf_mapping::exact;
  std::vector<uint8_t> input;
  if (!read_stdin(input, options.limits.max_bytes)) {
    std::cerr << "pyactor etf: cannot read stdin, or it holds more than "
              << options.limits.max_bytes << " bytes\n";
    return usage;
  }
  auto term = codec::decode_etf(input, options);
  if (!term) {
    std::cerr << "pyactor etf: " << term.error().message << "\n";
    return usage;
  }
  if (mode == "decode") {
    std::cout << (python ? term->to_string() : codec::format_erlang(*term)) << "\n";
    return ok;
  }
  auto bytes = codec::encode_etf(*term);
  if (!bytes) {
    std::cerr << "pyactor etf: " << bytes.error().message << "\n";
    return usage;
  }
  if (std::fwrite(bytes->data(), 1, bytes->size(), stdout) != bytes->size() || std::fflush(stdout)) {
    std::cerr << "pyactor etf: cannot write stdout\n";
    return call_failed;
  }
  return ok;
}

} // namespace pyactor::cli
