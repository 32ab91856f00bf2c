// Requests the `py` Erlang module sends to the gateway, parsed from terms.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/parallel.hpp"
#include "pyactor/runtime.hpp"
#include "pyactor/value.hpp"

namespace pyactor::erlbridge {

/// What a request asks for. The Erlang forms (`Opts` is a map or proplist of
/// `timeout`, `worker`, `by_ref`; names are atoms or binaries; `Kw` is a map
/// or proplist):
///   {func, Mod, Name, Args, Kw, Opts}     {init, Mod, Class, Args, Kw, Opts}
///   {const, Mod, Name, Cast, Opts}        {method, Target, Name, Args, Kw, Opts}
///   {attr, Target, Name, Opts}            {builtin, Name, Args, Kw, Opts}
///   {op, Name, Args, Opts}                {eval, Expr, Locals, Opts}
///   {exec, Code, Opts}                    {versions, Opts}
///   {release, Ref}                        {broadcast, Mod, Name, Args, Kw, Opts}
///   {starmap, Mod, Name, [Args], Opts}    {batch, [{Mod, Name, Args, Kw}], Opts}
///   status | workers | {add_workers, N} | ping
enum class request_kind : uint8_t {
  func,
  init,
  constant,
  method,
  attr,
  builtin,
  op,
  eval,
  exec,
  versions,
  release,
  broadcast,
  starmap,
  batch,
  status,
  workers,
  add_workers,
  ping,
};

/// Returns the Erlang atom of `x`, e.g. "func".
const char* to_string(request_kind x);

/// One parsed request, its arguments already mapped to Python-side values.
struct bridge_request {
  request_kind kind = request_kind::ping;
  std::string module;
  std::string name;
  std::string cast;   ///< for `const`: "", "int", "float" or "str"
  value target;       ///< for `method`, `attr`, `release`
  list args;
  dict kwargs;
  call_options opts;
  std::vector<list> items;            ///< for `starmap`
  std::vector<batch_call> calls;      ///< for `batch`
  uint32_t count = 0;                 ///< for `add_workers`
};

/// Parses a request term, decoded with the ETF codec's python mapping
/// (codec/etf.hpp): arguments move into the request as they are. Returns
/// `bad_request` naming the element that is wrong, or the "unknown request"
/// error (see `is_unknown_call`) for a shape it does not know.
result<bridge_request> parse_request(value term);

/// True if `e` is the "unknown request" error of `parse_request`.
bool is_unknown_call(const error& e);

} // namespace pyactor::erlbridge
