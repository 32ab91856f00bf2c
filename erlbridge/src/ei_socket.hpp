// TCP socket callbacks for erl_interface (its "user supplied socket
// implementation"), used only for listening, accepting and the handshake.
// They differ from ei's own in one point: the handshake's name/challenge
// message advertises DFLAG_DIST_MONITOR_NAME besides ei's flags. An Erlang
// node sends MONITOR_P_EXIT (a monitored process died) only to peers with
// both DIST_MONITOR and DIST_MONITOR_NAME (erts dist.c, erts_dsig_send_m_exit),
// and ei 5.3 advertises only the first; the gateway reads and writes every
// frame after the handshake itself, so it can honour what it advertises.
#pragma once

#include <cstdint>

#include <ei.h>

namespace pyactor::erlbridge {

/// The callbacks (a static table; contexts are heap-allocated per socket).
ei_socket_callbacks* gateway_socket_callbacks();

/// Makes the next ei_accept(_tmo) on this thread take `fd` (a connection
/// already accepted from the listening socket) instead of accepting one: the
/// handshake of each connection then runs on a thread of its own. ei closes
/// `fd` if the handshake fails.
void hand_over_accepted(int fd);

/// DFLAG_DIST_MONITOR | DFLAG_DIST_MONITOR_NAME (erts dist.h).
constexpr uint64_t dflags_monitors = 0x08 | 0x20;

/// The distribution flags the peer on `fd` (a connection these callbacks
/// accepted) advertised in its handshake; 0 if unknown.
uint64_t peer_dist_flags(int fd);

} // namespace pyactor::erlbridge
