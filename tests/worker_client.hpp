// A synchronous client of one real worker process, driven frame by frame
// through worker_process (no actors), for the worker suites.
#pragma once

#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/log_actor.hpp"
#include "actors/type_ids.hpp"
#include "actors/worker_process.hpp"
#include "pyactor/codec/msgpack.hpp"
#include "worker/protocol.hpp"
#include "test_fixtures.hpp"

namespace pyactor::test {

struct frame {
  uint64_t id;
  uint8_t status;
  value payload;
};

/// A log actor that writes into `lines`, in an actor system of its own, for
/// code that runs a worker_process without actors. Give `handle()` to the
/// process; `stop()` (also run by the destructor) waits until every line sent
/// to it was captured: the process (every copy of the handle) must be gone.
class captured_log {
public:
  captured_log() {
    cfg_.add_message_types<caf::id_block::pyactor>();
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    actor_ = actors::spawn_log_actor(*sys_, lines.sink());
  }

  ~captured_log() { stop(); }

  actors::log_actor handle() const { return actor_; }

  void stop() {
    actor_ = actors::log_actor{};
    sys_.reset(); // the log actor stops once its handles are gone and its mailbox is empty
  }

  bool wait_for(const std::string& text, std::chrono::milliseconds timeout) {
    return lines.wait_for(text, timeout);
  }

  log_capture lines;

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  actors::log_actor actor_;
};

/// A synchronous client of one worker process: send a request, wait for its frame.
class worker_client {
public:
  explicit worker_client(std::string executable = pyactor::test::worker_executable())
    : worker_client(spawn_options(std::move(executable))) {
    // nop
  }

  /// The options the default constructor starts the worker with.
  static actors::worker_spawn_options spawn_options(std::string executable) {
    actors::worker_spawn_options opts;
    opts.executable = std::move(executable);
    opts.python_path = {pyactor::test::python_dir()};
    opts.slot = 1;
    opts.uid = 77;
    opts.max_objects = 3;
    return opts;
  }

  explicit worker_client(actors::worker_spawn_options opts) {
    opts.log = log.handle();
    actors::worker_events events;
    events.on_frame = [this](uint64_t id, uint8_t st, std::vector<char> payload) {
      auto decoded = codec::decode_msgpack(payload);
      std::lock_guard<std::mutex> guard{mtx_};
      frames_.push_back(frame{id, st, decoded ? decoded.value() : value{"<undecodable>"}});
      cv_.notify_all();
    };
    events.on_exit = [this](actors::process_exit e) {
      std::lock_guard<std::mutex> guard{mtx_};
      exit_ = std::move(e);
      cv_.notify_all();
    };
    auto started = actors::worker_process::start(opts, std::move(events));
    opts.log = actors::log_actor{}; // only the process holds the handle now
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().message));
    proc = std::move(started).value();
    auto ready = next_frame();
    BOOST_REQUIRE(ready);
    BOOST_REQUIRE_EQUAL(ready->id, 0u);
    BOOST_REQUIRE_EQUAL(ready->status, 0);
  }

  /// Stops the process first: its I/O thread calls back into this object.
  ~worker_client() {
    proc.reset();
    log.stop();
  }

  /// Sends `[op, params...]` and returns its reply.
  frame call(const value& body) {
    auto bytes = codec::encode_msgpack(body);
    return call_raw(bytes);
  }

  /// Sends `[op, params...]` without waiting; returns its call id.
  uint64_t send(const value& body) {
    auto bytes = codec::encode_msgpack(body);
    return send_raw(bytes);
  }

  uint64_t send_raw(const std::vector<char>& body) {
    uint64_t id = ++last_id_;
    std::vector<char> buf(worker::request_header_size);
    worker::put_u64(buf.data() + 4, id);
    buf.insert(buf.end(), body.begin(), body.end());
    worker::seal_frame(buf, 0);
    proc->send(buf.data(), buf.size());
    return id;
  }

  frame call_raw(const std::vector<char>& body) {
    uint64_t id = send_raw(body);
    auto reply = next_frame();
    BOOST_REQUIRE_MESSAGE(reply, "no reply: the worker ended: " + (exit_ ? exit_->reason : ""));
    BOOST_REQUIRE_EQUAL(reply->id, id);
    return *reply;
  }

  std::optional<frame> next_frame() {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait_for(guard, std::chrono::seconds(60), [&] { return !frames_.empty() || exit_; });
    if (frames_.empty())
      return std::nullopt;
    auto f = std::move(frames_.front());
    frames_.pop_front();
    return f;
  }

  std::optional<actors::process_exit> wait_exit() {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait_for(guard, std::chrono::seconds(60), [&] { return exit_.has_value(); });
    return exit_;
  }

  captured_log log;
  std::unique_ptr<actors::worker_process> proc;

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<frame> frames_;
  std::optional<actors::process_exit> exit_;
  uint64_t last_id_ = 0;
};

inline value func(const std::string& module, const std::string& name, list args = {}, dict kwargs = {},
           bool by_ref = false) {
  return list{value{static_cast<int>(worker::op::func)}, value{module}, value{name}, value{std::move(args)},
              value{std::move(kwargs)}, value{by_ref}};
}

/// An exec request: `code` runs in the worker's namespace.
inline value exec_request(const std::string& code) {
  return list{value{static_cast<int>(worker::op::exec)}, value{code}};
}

/// An eval request: `code` is evaluated in the worker's namespace.
inline value eval_request(const std::string& code) {
  return list{value{static_cast<int>(worker::op::eval)}, value{code}};
}

/// An eval request with `locals` as its local namespace.
inline value eval_request(const std::string& code, dict locals) {
  return list{value{static_cast<int>(worker::op::eval)}, value{code}, value{std::move(locals)}};
}

/// The python_type of an error reply.
inline std::string error_type(const frame& f) {
  return f.payload.as<list>().at(0).as<std::string>();
}

inline std::string error_message(const frame& f) {
  return f.payload.as<list>().at(1).as<std::string>();
}

} // namespace pyactor::test
