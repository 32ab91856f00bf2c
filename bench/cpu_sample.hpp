// Which core a process last ran on, for the benchmarks' core reports.
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <cstdint>
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

/// Counters of one process that time cannot blur: its read-like and
/// write-like syscalls (/proc/PID/io syscr, syscw) and the times any of its
/// threads went to sleep (voluntary_ctxt_switches of each task).
struct proc_counters {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t sleeps = 0;

  proc_counters& operator+=(const proc_counters& x) {
    reads += x.reads, writes += x.writes, sleeps += x.sleeps;
    return *this;
  }
};

/// The counters of `pid` now (zeros for what cannot be read).
inline proc_counters read_counters(pid_t pid) {
  proc_counters out;
  std::string base = "/proc/" + std::to_string(pid);
  std::ifstream io{base + "/io"};
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscr:")
      out.reads = value;
    else if (key == "syscw:")
      out.writes = value;
  }
  if (DIR* d = ::opendir((base + "/task").c_str())) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.')
        continue;
      std::ifstream status{base + "/task/" + e->d_name + "/status"};
      std::string line;
      while (std::getline(status, line))
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
          out.sleeps += std::stoull(line.substr(line.find(':') + 1));
    }
    ::closedir(d);
  }
  return out;
}

} // namespace pyactor::bench
