// Checks the Python executable the workers are to run, once, before any
// worker starts: a wrong choice is one clear error, not a crash loop.
#pragma once

#include <string>

#include "pyactor/error.hpp"

namespace pyactor::client {

/// Runs `python` once (`-E -S -c`, at most 10 s) and returns its version
/// ("3.11.2"). Errors (errc::bad_request) name the path and what was found:
/// a missing or non-executable file, a program that is not Python, or a
/// Python whose major.minor differs from `expected_minor` ("3.11", the
/// version pyactor's worker module was built for).
result<std::string> check_python(const std::string& python, const std::string& expected_minor);

} // namespace pyactor::client
