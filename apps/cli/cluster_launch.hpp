// Processes of `pyactor up`: starting the head and the node launch commands
// as children, knowing a process again by pid *and* start time (never a
// recycled pid), and the pid file that `pyactor down` reads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pyactor/error.hpp"

namespace pyactor::cli {

/// A process as `up` started it: its pid and its start time in clock ticks
/// since boot (/proc/PID/stat field 22); together they name one process.
struct process_id {
  pid_t pid = -1;
  uint64_t start_time = 0;
};

/// The start time of `pid`, or 0 when there is no such process.
uint64_t start_time_of(pid_t pid);

/// True while the very process `p` names is alive (not a zombie).
bool is_running(const process_id& p);

/// One line of the pid file: role "up", "head" or "node", and its name.
struct pid_entry {
  std::string role;
  std::string name;
  process_id id;
};

/// The pid file of one `up`: the config it serves and what it started.
struct pid_file {
  std::string config;
  std::vector<pid_entry> entries;
};

/// Reads a pid file; the error says why it is not one `up` wrote.
result<pid_file> read_pid_file(const std::string& path);

/// Creates `path` with `content` only if it does not exist (atomic:
/// written aside, then linked). False with errno EEXIST when it exists.
bool create_pid_file(const std::string& path, const pid_file& content, int& error_number);

/// Replaces `path` atomically with `content`.
bool write_pid_file(const std::string& path, const pid_file& content);

/// `${XDG_RUNTIME_DIR:-/tmp}/pyactor-up-STEM-HASH.pid` for the config at
/// the absolute path `config` (STEM: its file name without .ini).
std::string default_pid_file(const std::string& config);

/// The log file of a detached `up`: the pid file's name with .log.
std::string log_file_of(const std::string& pid_file_path);

/// A started child: its own process group (so a signal reaches what its
/// shell started) and its stdout and stderr on the pipe `output`.
struct child_process {
  process_id id;
  int output = -1;
};

/// Starts `argv` (argv[0] a path) in a new process group with an empty
/// signal mask, stdin from /dev/null, stdout and stderr into a pipe, and
/// SIGTERM when this process dies (no orphans).
result<child_process> spawn_child(const std::vector<std::string>& argv);

/// Signals the process group `p` leads, if `p` is still that process.
bool signal_group(const process_id& p, int sig);

/// Signals the process `p` only, if it is still that process.
bool signal_process(const process_id& p, int sig);

/// Waits until `p` (not a child of ours) has exited, at most `ms`
/// milliseconds; true when it is gone.
bool wait_gone(const process_id& p, int ms);

/// `text` quoted for /bin/sh when it holds anything but safe characters.
std::string shell_quote(const std::string& text);

/// The absolute path of the running executable.
std::string self_executable();

} // namespace pyactor::cli
