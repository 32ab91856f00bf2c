// The worker's serving loop, run by the `_pyactor_worker` extension module
// inside a real Python executable. No CAF inside.
#pragma once

#include <string>
#include <vector>

namespace pyactor::worker {

/// Runs one worker to the end: parses `args` (the flags a pyactor node passes:
/// --channel-fd, --reply-fd, --worker-id, --worker-uid, --max-objects, --python-path,
/// --import, --start-hook), puts the --python-path directories ahead of
/// sys.path, imports pyactor, runs the imports and the start hook, sends the
/// ready frame and serves requests until the node closes the channel.
///
/// PRECONDITION: called on the main thread of an initialized interpreter,
/// holding the GIL. The GIL is released whenever the loop waits.
/// Returns the process's exit code: 0 at the end of input (and in a forked
/// child that returned into the loop), 2 for a bad command line, 3 when the
/// start failed or the channel broke (the reason is on stderr).
int run_worker(const std::vector<std::string>& args);

} // namespace pyactor::worker
