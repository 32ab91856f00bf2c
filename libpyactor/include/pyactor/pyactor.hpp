// pyactor: run Python on a supervised pool of interpreters. The one header
// C++ users include.
#pragma once

#include "pyactor/error.hpp"
#include "pyactor/runtime.hpp"
#include "pyactor/runtime_options.hpp"
#include "pyactor/value.hpp"
