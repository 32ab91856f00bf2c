// Tests for pyactor::codec::parse_literal.
#include "pyactor/codec/literal.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace pyactor;
using namespace pyactor::codec;

namespace {

pyactor::value parse_ok(const std::string& text) {
  auto res = parse_literal(text);
  BOOST_REQUIRE_MESSAGE(res.ok(), "parsing <" << text << "> failed: "
                                              << (res.ok() ? "" : res.error().message));
  return res.value();
}

std::string parse_error(const std::string& text) {
  auto res = parse_literal(text);
  BOOST_REQUIRE_MESSAGE(!res.ok(), "parsing <" << text << "> succeeded: "
                                               << (res.ok() ? res.value().to_string() : ""));
  BOOST_TEST(static_cast<int>(res.error().code) == static_cast<int>(errc::bad_request));
  BOOST_TEST(res.error().message.rfind("literal: ", 0) == 0u, res.error().message);
  return res.error().message;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

big_integer big(const std::string& text) {
  big_integer out;
  BOOST_REQUIRE(big_integer::from_string(text, out));
  return out;
}

} // namespace

namespace pyactor {

// Lets BOOST_TEST print values (found by ADL; internal linkage per test file).
[[maybe_unused]] static std::ostream& boost_test_print_type(std::ostream& os, const value& x) {
  return os << x.to_string();
}

} // namespace pyactor

BOOST_AUTO_TEST_SUITE(codec_literal)

BOOST_AUTO_TEST_CASE(integers) {
  BOOST_TEST(parse_ok("42") == pyactor::value(42));
  BOOST_TEST(parse_ok("0") == pyactor::value(0));
  BOOST_TEST(parse_ok("-1") == pyactor::value(-1));
  BOOST_TEST(parse_ok("-0") == pyactor::value(0));
  BOOST_TEST(parse_ok("9223372036854775807")
             == pyactor::value(std::numeric_limits<int64_t>::max()));
  BOOST_TEST(parse_ok("-9223372036854775808")
             == pyactor::value(std::numeric_limits<int64_t>::min()));
  BOOST_TEST(parse_ok("9223372036854775808") == pyactor::value(9223372036854775808ul));
  BOOST_TEST(parse_ok("18446744073709551615")
             == pyactor::value(std::numeric_limits<unsigned long>::max()));
  BOOST_TEST(parse_ok("481229803398374426442198455156736")
             == pyactor::value(big("481229803398374426442198455156736")));
  BOOST_TEST(parse_ok("-481229803398374426442198455156736")
             == pyactor::value(big("-481229803398374426442198455156736")));
  BOOST_TEST(parse_ok("-9223372036854775809") == pyactor::value(big("-9223372036854775809")));
}

BOOST_AUTO_TEST_CASE(floats) {
  BOOST_TEST(parse_ok("1.5") == pyactor::value(1.5));
  BOOST_TEST(parse_ok("-1.5") == pyactor::value(-1.5));
  BOOST_TEST(parse_ok("1e3") == pyactor::value(1000.0));
  BOOST_TEST(parse_ok("1E-2") == pyactor::value(0.01));
  BOOST_TEST(parse_ok("2.5e+2") == pyactor::value(250.0));
  BOOST_TEST(parse_ok("0.1") == pyactor::value(0.1));
  BOOST_TEST(parse_ok("3.141592653589793") == pyactor::value(3.141592653589793));
  auto neg_zero = parse_ok("-0.0");
  BOOST_REQUIRE(neg_zero.is<double>());
  BOOST_TEST(neg_zero.as<double>() == 0.0);
  BOOST_TEST(std::signbit(neg_zero.as<double>()));
  // Out of range, as Python's float(): overflow is inf, underflow zero.
  BOOST_TEST(parse_ok("1e999") == pyactor::value(std::numeric_limits<double>::infinity()));
  BOOST_TEST(parse_ok("-1e999") == pyactor::value(-std::numeric_limits<double>::infinity()));
  BOOST_TEST(parse_ok("1e-999") == pyactor::value(0.0));
  BOOST_TEST(parse_ok("0.0001e-999") == pyactor::value(0.0));
}

BOOST_AUTO_TEST_CASE(keywords) {
  BOOST_TEST(parse_ok("true") == pyactor::value(true));
  BOOST_TEST(parse_ok("True") == pyactor::value(true));
  BOOST_TEST(parse_ok("false") == pyactor::value(false));
  BOOST_TEST(parse_ok("False") == pyactor::value(false));
  BOOST_TEST(parse_ok("null").is_none());
  BOOST_TEST(parse_ok("None").is_none());
  BOOST_TEST(parse_ok("  None \n").is_none());
  BOOST_TEST(parse_ok("[true, None, False, null]")
             == make_list(true, none_t{}, false, none_t{}));
}

BOOST_AUTO_TEST_CASE(strings) {
  BOOST_TEST(parse_ok(R"("text")") == pyactor::value("text"));
  BOOST_TEST(parse_ok(R"('single')") == pyactor::value("single"));
  BOOST_TEST(parse_ok(R"("")") == pyactor::value(""));
  BOOST_TEST(parse_ok(R"("it's")") == pyactor::value("it's"));
  BOOST_TEST(parse_ok(R"('say "hi"')") == pyactor::value("say \"hi\""));
  BOOST_TEST(parse_ok(R"("a\"b\\c\/d")") == pyactor::value("a\"b\\c/d"));
  BOOST_TEST(parse_ok(R"('it\'s')") == pyactor::value("it's"));
  BOOST_TEST(parse_ok(R"("\b\f\n\r\t")") == pyactor::value("\b\f\n\r\t"));
  BOOST_TEST(parse_ok(R"("\u0041\u00e9\u20ac")") == pyactor::value("A\xc3\xa9\xe2\x82\xac"));
  BOOST_TEST(parse_ok(R"("\ud83d\ude00")") == pyactor::value("\xf0\x9f\x98\x80"));
  BOOST_TEST(parse_ok(R"("\x41\xe9")") == pyactor::value("A\xc3\xa9"));
  BOOST_TEST(parse_ok(R"("\u0000")") == pyactor::value(std::string("\0", 1)));
  BOOST_TEST(parse_ok("\"h\xc3\xa9llo\"") == pyactor::value("h\xc3\xa9llo"));
  BOOST_TEST(parse_ok(R"("[1, 2]")") == pyactor::value("[1, 2]"));
}

BOOST_AUTO_TEST_CASE(bytes_literals) {
  BOOST_TEST(parse_ok(R"(b"abc")") == make_bytes("abc"));
  BOOST_TEST(parse_ok(R"(b'abc')") == make_bytes("abc"));
  BOOST_TEST(parse_ok(R"(b"")") == make_bytes(""));
  BOOST_TEST(parse_ok(R"(b"\x00\xff\n")") == make_bytes(std::string("\x00\xff\n", 3)));
  BOOST_TEST(parse_ok(R"([b"a", "b"])") == make_list(make_bytes("a"), "b"));
}

BOOST_AUTO_TEST_CASE(lists) {
  BOOST_TEST(parse_ok("[]") == make_list());
  BOOST_TEST(parse_ok("[ ]") == make_list());
  BOOST_TEST(parse_ok("[1, 2]") == make_list(1, 2));
  BOOST_TEST(parse_ok("[1,2,]") == make_list(1, 2));
  BOOST_TEST(parse_ok(" \t[ 1 ,\n 2.5 , \"x\" ]\n") == make_list(1, 2.5, "x"));
  BOOST_TEST(parse_ok("[1, [2, [3, []]]]") == make_list(1, make_list(2, make_list(3, make_list()))));
}

BOOST_AUTO_TEST_CASE(dicts) {
  BOOST_TEST(parse_ok("{}") == pyactor::value(dict{}));
  BOOST_TEST(parse_ok(R"({"a": 1})") == pyactor::value(dict{{{"a", 1}}}));
  BOOST_TEST(parse_ok(R"({"a": [1, 2], "b": {"c": null},})")
             == pyactor::value(dict{{{"a", make_list(1, 2)},
                                     {"b", pyactor::value(dict{{{"c", none_t{}}}})}}}));
  BOOST_TEST(parse_ok("{1: 2, (1, 2): 't'}") == pyactor::value(dict{{{1, 2}, {make_tuple(1, 2), "t"}}}));
  BOOST_TEST(parse_ok("{name: pyactor, n: 3}")
             == pyactor::value(dict{{{"name", "pyactor"}, {"n", 3}}}));
}

BOOST_AUTO_TEST_CASE(tuples) {
  BOOST_TEST(parse_ok("()") == make_tuple());
  BOOST_TEST(parse_ok("(1,)") == make_tuple(1));
  BOOST_TEST(parse_ok("( 1 , )") == make_tuple(1));
  BOOST_TEST(parse_ok("(1, 2)") == make_tuple(1, 2));
  BOOST_TEST(parse_ok("(1, 2,)") == make_tuple(1, 2));
  BOOST_TEST(parse_ok("(1)") == pyactor::value(1)); // just parentheses, as in Python
  BOOST_TEST(parse_ok("((1, 2), [3], ())") == make_tuple(make_tuple(1, 2), make_list(3), make_tuple()));
}

BOOST_AUTO_TEST_CASE(bare_words_are_strings) {
  BOOST_TEST(parse_ok("/tmp") == pyactor::value("/tmp"));
  BOOST_TEST(parse_ok("hello") == pyactor::value("hello"));
  BOOST_TEST(parse_ok("hello world ") == pyactor::value("hello world"));
  BOOST_TEST(parse_ok("os.path") == pyactor::value("os.path"));
  BOOST_TEST(parse_ok("http://host:80/a,b") == pyactor::value("http://host:80/a,b"));
  BOOST_TEST(parse_ok("-") == pyactor::value("-"));
  BOOST_TEST(parse_ok("-x") == pyactor::value("-x"));
  BOOST_TEST(parse_ok(".5") == pyactor::value(".5"));
  BOOST_TEST(parse_ok("nullable") == pyactor::value("nullable"));
  BOOST_TEST(parse_ok("Truely") == pyactor::value("Truely"));
  BOOST_TEST(parse_ok("bob") == pyactor::value("bob"));
  BOOST_TEST(parse_ok("[a, b/c, None]") == make_list("a", "b/c", none_t{}));
}

BOOST_AUTO_TEST_CASE(errors_name_offset_and_expectation) {
  BOOST_TEST(parse_error("[1, 2 3]") == R"(literal: expected ',' or ']' at offset 6 in "[1, 2 3]")");
  BOOST_TEST(parse_error("") == R"(literal: expected a value at offset 0 (end of input) in "")");
  BOOST_TEST(parse_error("   ") == R"(literal: expected a value at offset 3 (end of input) in "   ")");
  BOOST_TEST(parse_error("[1,") == R"(literal: expected a value at offset 3 (end of input) in "[1,")");
  BOOST_TEST(parse_error("[1") == R"(literal: expected ',' or ']' at offset 2 (end of input) in "[1")");
  BOOST_TEST(parse_error("{1 2}") == R"(literal: expected ':' at offset 3 in "{1 2}")");
  BOOST_TEST(parse_error("{1: 2 3}") == R"(literal: expected ',' or '}' at offset 6 in "{1: 2 3}")");
  BOOST_TEST(parse_error("(1 2)") == R"~(literal: expected ',' or ')' at offset 3 in "(1 2)")~");
  BOOST_TEST(parse_error("]") == R"(literal: expected a value at offset 0 in "]")");
  BOOST_TEST(parse_error("[,]") == R"(literal: expected a value at offset 1 in "[,]")");
  BOOST_TEST(parse_error("[1] x") == R"(literal: expected end of input at offset 4 in "[1] x")");
  BOOST_TEST(parse_error("\"abc") == R"(literal: unterminated string at offset 0 in ""abc")");
  BOOST_TEST(parse_error("[b'x") == R"(literal: unterminated string at offset 1 in "[b'x")");
}

BOOST_AUTO_TEST_CASE(bad_numbers) {
  BOOST_TEST(parse_error("01") == R"(literal: leading zero in number at offset 0 in "01")");
  BOOST_TEST(parse_error("-01") == R"(literal: leading zero in number at offset 1 in "-01")");
  BOOST_TEST(parse_error("1.5.3") == R"(literal: expected end of input at offset 3 in "1.5.3")");
  BOOST_TEST(parse_error("1.") == R"(literal: expected a digit after '.' at offset 2 (end of input) in "1.")");
  BOOST_TEST(parse_error("1e") == R"(literal: expected a digit in the exponent at offset 2 (end of input) in "1e")");
  BOOST_TEST(parse_error("123abc") == R"(literal: expected end of input at offset 3 in "123abc")");
  BOOST_TEST(parse_error("[1x]") == R"(literal: expected ',' or ']' at offset 2 in "[1x]")");
}

BOOST_AUTO_TEST_CASE(bad_escapes) {
  BOOST_TEST(parse_error(R"("\q")") == R"(literal: invalid escape \q at offset 1 in ""\q"")");
  BOOST_TEST(contains(parse_error(R"("\ud800")"), R"(unpaired surrogate \ud800 at offset 1)"));
  BOOST_TEST(contains(parse_error(R"("\ud800\u0041")"), R"(unpaired surrogate \ud800 at offset 1)"));
  BOOST_TEST(contains(parse_error(R"("x\udc00")"), R"(unpaired surrogate \udc00 at offset 2)"));
  BOOST_TEST(contains(parse_error(R"("\u12")"), "expected four hex digits after \\u at offset 1"));
  BOOST_TEST(contains(parse_error(R"("\x4")"), "expected two hex digits after \\x at offset 1"));
  BOOST_TEST(contains(parse_error(R"(b"\u0041")"), "\\u escape in bytes at offset 2"));
  BOOST_TEST(contains(parse_error("\"\\"), "incomplete escape at offset 1"));
}

BOOST_AUTO_TEST_CASE(nesting_is_limited_to_100) {
  auto nested = [](size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  auto ok = parse_ok(nested(100));
  BOOST_TEST(ok.is<list>());
  BOOST_TEST(contains(parse_error(nested(101)), "nesting deeper than 100 at offset 100"));
  BOOST_TEST(contains(parse_error(std::string(100000, '[')), "nesting deeper than 100"));
  BOOST_TEST(contains(parse_error(std::string(1000, '(')), "nesting deeper than 100"));
  BOOST_TEST(contains(parse_error(std::string(1000, '{')), "nesting deeper than 100"));
}

BOOST_AUTO_TEST_CASE(long_input_is_shortened_in_messages) {
  std::string text = "[" + std::string(200, '1') + " x]";
  auto msg = parse_error(text);
  BOOST_TEST(contains(msg, "expected ',' or ']' at offset 202"));
  BOOST_TEST(contains(msg, "...\""));
  BOOST_TEST(msg.size() < 200u);
}

BOOST_AUTO_TEST_SUITE_END()
