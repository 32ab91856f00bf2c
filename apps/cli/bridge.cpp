// `pyactor bridge`: hands over to erlbridge (the C-node gateway).
#include "cli.hpp"
#include "pyactor/erlbridge/bridge_command.hpp"

namespace pyactor::cli {

int run_bridge(const invocation& inv) {
  if (inv.connect.empty())
    return erlbridge::run_bridge_command(inv.args, inv.options);
  // --connect HEAD: the gateway serves the cluster's workers.
  return erlbridge::run_bridge_command(inv.args, inv.options, [&inv] {
    cluster::connect_options opts;
    opts.net.tls = inv.tls;
    opts.default_timeout = inv.options.default_timeout;
    return runtime::connect(inv.connect, opts);
  });
}

} // namespace pyactor::cli
