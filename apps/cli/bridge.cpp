// `pyactor bridge`: hands over to erlbridge (the C-node gateway).
#include "cli.hpp"
#include "pyactor/erlbridge/bridge_command.hpp"

namespace pyactor::cli {

int run_bridge(const invocation& inv) {
  return erlbridge::run_bridge_command(inv.args, inv.options);
}

} // namespace pyactor::cli
