// JSON-like literals for the command line: `42`, `-1.5`, `"text"`, `[1, 2]`,
// `{"a": 1}`, `true`/`false`/`null` (and Python's `True`/`False`/`None`),
// `(1, 2)` tuples, `b"bytes"`, big integers like `481229803398374426442198455156736`.
#pragma once

#include <string>

#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor::codec {

/// Parses one literal spanning all of `text`. A bare word that is not a
/// keyword or number is taken as a string (so `pyactor call os.path.isdir /tmp`
/// works). Errors are `errc::bad_request` naming the offset and what was expected.
/// Nesting deeper than 100 levels is refused.
result<value> parse_literal(const std::string& text);

} // namespace pyactor::codec
