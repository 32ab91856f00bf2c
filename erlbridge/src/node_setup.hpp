// Setting up the C-node: cookie, host name, epmd registration.
#pragma once

#include <string>

#include <ei.h>

#include "pyactor/erlbridge/gateway.hpp"

namespace pyactor::erlbridge {

/// Returns the cookie: `opts.cookie`, else the first line of `opts.cookie_file`,
/// else $PYACTOR_COOKIE, else ~/.erlang.cookie. Errors name the file.
result<std::string> read_cookie(const gateway_options& opts);

/// Returns the host part for the node name: the short host name for `-sname`,
/// the listen address for `-name`.
std::string default_host(const gateway_options& opts);

/// Registers the node with epmd, starting `epmd -daemon` (on loopback unless
/// $ERL_EPMD_ADDRESS says otherwise) when none answers. Returns the fd that
/// keeps the registration alive.
result<int> publish_with_epmd(ei_cnode& ec, int port, const gateway_options& opts,
                              const std::string& node_name);

} // namespace pyactor::erlbridge
