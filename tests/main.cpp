// The single Boost.Test binary `pyactor-test`; each suite is one ctest entry.
#define BOOST_TEST_MODULE pyactor
#include <boost/test/unit_test.hpp>
