// The gateway's protocol state machine: Erlang messages in, Python calls out,
// replies back. No sockets and no ei here (see gateway.hpp for the transport).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pyactor/erlbridge/request.hpp"
#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor::erlbridge {

/// An Erlang pid as the transport needs it to address a reply.
struct erl_pid {
  std::string node;
  uint32_t num = 0;
  uint32_t serial = 0;
  uint32_t creation = 0;
};

/// Reads a pid from its external-format bytes (NEW_PID_EXT or PID_EXT, no
/// version byte); false if the bytes are not exactly one pid.
bool parse_pid(const uint8_t* data, size_t size, erl_pid& out);

/// What the protocol needs from its transport. Called on the loop thread only,
/// except `post` (any thread).
class transport_callee {
public:
  virtual ~transport_callee();
  /// Sends `etf` (a whole term, version byte included) to `to` over `conn`.
  virtual void send(uint64_t conn, const erl_pid& to, const std::vector<uint8_t>& etf) = 0;
  /// Hands a completed call back to the loop thread, which then calls
  /// `gateway_state::on_completion(key, ...)`. Thread-safe.
  virtual void post(uint64_t key, result<value> outcome) = 0;
};

/// What the protocol needs from the Python side (a `pyactor::runtime`).
class python_service {
public:
  using completion = std::function<void(result<value>)>;
  virtual ~python_service();
  /// Starts `req`; `done` runs exactly once, on any thread, possibly before
  /// `submit` returns. Returns a handle for `cancel` (0 if done already ran).
  virtual uint64_t submit(bridge_request req, completion done) = 0;
  /// Cancels a submitted call; its `done` still runs (with `cancelled`) unless
  /// it already ran. Unknown handles are ignored.
  virtual void cancel(uint64_t handle) = 0;
};

/// Counters of a gateway_state, for status and tests.
struct protocol_stats {
  uint64_t requests = 0;    ///< `$gen_call`s to `py` received
  uint64_t replies = 0;     ///< replies sent (values and errors)
  uint64_t bad_terms = 0;   ///< messages that failed to decode or parse
  uint64_t cancelled = 0;   ///< calls cancelled because their caller went away
  uint64_t in_flight = 0;   ///< calls started and not yet answered
};

/// The gateway's protocol: decodes each message sent to `py` or `net_kernel`,
/// starts calls through `python_service`, and answers every `$gen_call`
/// exactly once (a value, an error, or `{error, {unknown_call, Req}}`).
/// Not thread-safe: owned by the transport's loop thread.
class gateway_state {
public:
  gateway_state(transport_callee& out, python_service& py, std::string node_name);

  /// Handles one message that `conn` sent to the registered name `to_name`.
  void on_message(uint64_t conn, const std::string& to_name, const uint8_t* data, size_t size);

  /// Sends the reply of the call `key` (if its connection is still there).
  void on_completion(uint64_t key, result<value> outcome);

  /// Cancels every call of `conn`; their completions are then dropped.
  void on_disconnect(uint64_t conn);

  const protocol_stats& stats() const { return stats_; }

private:
  struct pending {
    uint64_t conn = 0;
    erl_pid from;
    std::vector<uint8_t> tag; // the reply tag, byte for byte (no version byte)
    uint64_t handle = 0;
  };

  void reply(uint64_t conn, const erl_pid& to, const std::vector<uint8_t>& tag,
             const value& body);
  void start_call(uint64_t conn, erl_pid from, std::vector<uint8_t> tag, bridge_request req);

  transport_callee& out_;
  python_service& py_;
  std::string node_name_;
  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, pending> pending_;
  std::unordered_map<uint64_t, std::unordered_set<uint64_t>> by_conn_;
  protocol_stats stats_;
};

} // namespace pyactor::erlbridge
