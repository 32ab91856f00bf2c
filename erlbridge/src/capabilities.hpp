#pragma once

#include "pyactor/value.hpp"

namespace pyactor::erlbridge::detail {

/// Whether `request` is the atom `capabilities`: a client asks which
/// protocols this gateway speaks (pyactor_batcher does, once per gateway).
bool is_capabilities_query(const value& request);

/// `{ok, [batch, cancel]}`: `{'$pyactor_batch', ...}` messages and
/// `{'$pyactor_cancel', ...}` are understood. A gateway older than this
/// question answers it `{error, {unknown_call, capabilities}}`; clients then
/// send one `$gen_call` per call.
value capabilities_reply();

} // namespace pyactor::erlbridge::detail
