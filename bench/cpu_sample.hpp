// Which core a process last ran on, for the benchmarks' core reports.
#pragma once

#include <sys/types.h>

#include <fstream>
#include <sstream>
#include <string>

namespace pyactor::bench {

/// The core `pid` last ran on (/proc/PID/stat field 39, "processor"); -1 if
/// the process is gone or the file cannot be parsed.
inline int last_cpu(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(in, line))
    return -1;
  // Field 2 (comm) may hold spaces and parentheses: count from the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return -1;
  std::istringstream rest{line.substr(close + 1)};
  std::string field;
  for (int i = 3; i <= 39; ++i) // field 3 (state) is the first after ')'
    if (!(rest >> field))
      return -1;
  try {
    return std::stoi(field);
  } catch (...) {
    return -1;
  }
}

} // namespace pyactor::bench
