// Shared helpers for the test suites that start real worker processes.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "pyactor/pyactor.hpp"

namespace pyactor::test {

/// SIGKILLs the first ready worker with calls in flight that `status`
/// lists; true if it was killed.
inline bool kill_a_busy_worker(runtime& rt) {
  for (auto& w : rt.status())
    if (w.state == "ready" && w.in_flight > 0 && w.pid > 0)
      return ::kill(static_cast<pid_t>(w.pid), SIGKILL) == 0;
  return false;
}

/// The freshly built pyactor-worker.
inline std::string worker_executable() {
  return std::string{PYACTOR_TEST_BIN_DIR} + "/pyactor-worker";
}

/// The directory holding the `pyactor` Python package.
inline std::string python_dir() {
  return PYACTOR_TEST_PYTHON_DIR;
}

/// True while a process with `pid` exists (zombies count as gone for us once
/// reaped by their parent).
inline bool process_alive(int64_t pid) {
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0;
}

/// A fresh folder `/tmp/PREFIX-XXXXXX`, removed with its contents when the
/// test ends.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& prefix) {
    std::string name = "/tmp/" + prefix + "-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(name.data()) != nullptr);
    path = name;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// Collects log lines thread-safely so tests can look for worker output.
class log_capture {
public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> guard{mtx_};
      lines_.push_back(line);
      cv_.notify_all();
    };
  }

  /// Waits up to `timeout` for a line containing `text`.
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] {
      for (auto& line : lines_)
        if (line.find(text) != std::string::npos)
          return true;
      return false;
    });
  }

  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> guard{mtx_};
    return lines_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

/// Waits until `pred` holds, checking every few milliseconds, for at most
/// `timeout` (a bound for a hung test, not a timing assertion).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

/// Runtime options for tests: the built worker, a small pool, logs captured.
inline runtime_options test_options(uint32_t workers, log_capture* log = nullptr) {
  runtime_options o;
  o.workers = workers;
  o.worker_executable = worker_executable();
  if (log != nullptr)
    o.log = log->sink();
  return o;
}

/// Starts a runtime; fails the test with the error if it cannot start.
inline std::unique_ptr<runtime> start_pool(runtime_options o) {
  auto started = runtime::start(std::move(o));
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
  return std::move(started).value();
}

/// The value of `r`; fails the test with the error if it holds one.
inline value ok(const result<value>& r) {
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
  return r.value();
}

} // namespace pyactor::test
