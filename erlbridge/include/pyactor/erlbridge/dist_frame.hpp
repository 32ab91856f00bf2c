// Erlang distribution frames after the handshake (erts dist.c, "pass-through"
// form: no atom cache, no fragments, which is what a C-node negotiates):
//   Length:32  112 ('p')  ControlMessage (ETF)  [Message (ETF)]
// or Length 0 for a tick. Pure functions, no I/O: the gateway reads and writes
// the bytes itself (non-blocking), so that no peer can stall the others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pyactor::erlbridge {

/// Distribution operations (DOP_* in erts dist.h) the gateway distinguishes.
namespace dop {
constexpr int link = 1;
constexpr int send = 2;
constexpr int exit = 3;
constexpr int reg_send = 6;
constexpr int send_tt = 12;
constexpr int reg_send_tt = 16;
constexpr int monitor_p = 19;
constexpr int demonitor_p = 20;
constexpr int monitor_p_exit = 21;
constexpr int send_sender = 22;
constexpr int send_sender_tt = 23;
constexpr int payload_monitor_p_exit = 28;
constexpr int alias_send = 33;
constexpr int alias_send_tt = 34;
} // namespace dop

/// A byte range within a frame.
struct byte_span {
  size_t at = 0;
  size_t size = 0;
};

/// What `parse_dist_frame` found. Pids and refs are spans of their term bytes
/// (no version byte) within the frame.
struct dist_control {
  int op = 0;
  /// reg_send: the registered name it goes to.
  std::string to_name;
  /// reg_send/send_sender/monitor_p/demonitor_p: the sender or watcher;
  /// monitor_p_exit: the process that died.
  byte_span from;
  /// send/send_sender: the receiving pid; monitor_p/demonitor_p: the watched
  /// pid or name; monitor_p_exit: the watcher.
  byte_span to;
  /// monitor_p, demonitor_p, monitor_p_exit: the monitor reference.
  byte_span ref;
  /// Offset of the message term (its version byte), or 0 if there is none.
  size_t payload = 0;
};

/// Returns the offset just after the one term that starts at `at` (no version
/// byte), or 0 if `data[0, size)` does not hold a whole well-formed term
/// there. Looks only at tags and lengths; never recurses, never allocates.
size_t skip_term(const uint8_t* data, size_t size, size_t at);

/// Parses the body of one frame (the bytes after its length, starting with
/// 112). False with `problem` set if it is not a pass-through frame with a
/// well-formed control tuple `{Op, ...}` (operations the gateway does not
/// know are returned with only `op` and `payload` set).
bool parse_dist_frame(const uint8_t* data, size_t size, dist_control& out, std::string& problem);

/// Our own identity on the wire: the node name and creation that pids and
/// refs the gateway makes carry.
struct dist_identity {
  std::string node;
  uint32_t creation = 0;
};

/// The NEW_PID_EXT bytes (no version byte) of pid <`num`.0> of `self`.
std::vector<uint8_t> encode_own_pid(const dist_identity& self, uint32_t num);

/// The NEWER_REFERENCE_EXT bytes (no version byte) of a ref of `self` whose
/// first two id words carry `id`.
std::vector<uint8_t> encode_own_ref(const dist_identity& self, uint64_t id);

/// Reads the id `encode_own_ref` put into a ref that `self` made; false for
/// any other term (another node's ref, a pid, garbage).
bool parse_own_ref(const uint8_t* data, size_t size, const dist_identity& self, uint64_t& id);

/// Appends the head of a SEND frame to `to` (pid term bytes, no version
/// byte) whose message is `message_size` bytes (version byte included) that
/// the caller appends (or writes) next: Length, 112, `{2, '', To}`.
void append_send_head(std::vector<uint8_t>& out, const uint8_t* to, size_t to_size,
                      size_t message_size);

/// Appends a whole MONITOR_P (`op` = dop::monitor_p) or DEMONITOR_P frame:
/// `{Op, Watcher, Watched, Ref}` with the term bytes given (no version bytes).
void append_monitor_frame(std::vector<uint8_t>& out, int op, const std::vector<uint8_t>& watcher,
                          const uint8_t* watched, size_t watched_size,
                          const std::vector<uint8_t>& ref);

} // namespace pyactor::erlbridge
