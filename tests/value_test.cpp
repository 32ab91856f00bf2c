// Tests for pyactor::value, big_integer and pyactor::error.
#include "pyactor/value.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

#include "pyactor/error.hpp"

using namespace pyactor;

namespace {

big_integer big(const std::string& text) {
  big_integer out;
  BOOST_REQUIRE_MESSAGE(big_integer::from_string(text, out), "bad big integer text " << text);
  return out;
}

std::vector<uint8_t> be(std::initializer_list<int> xs) {
  std::vector<uint8_t> out;
  for (int x : xs)
    out.push_back(static_cast<uint8_t>(x));
  return out;
}

} // namespace

namespace pyactor {

// Lets BOOST_TEST print values (found by ADL; internal linkage per test file).
[[maybe_unused]] static std::ostream& boost_test_print_type(std::ostream& os, const value& x) {
  return os << x.to_string();
}

} // namespace pyactor

BOOST_AUTO_TEST_SUITE(value)

// -- construction ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unsigned_long_above_int64_max_becomes_big_integer) {
  BOOST_TEST(pyactor::value(42ul).is<int64_t>());
  BOOST_TEST(pyactor::value(42ul).as<int64_t>() == 42);
  auto max_int64 = static_cast<unsigned long>(std::numeric_limits<int64_t>::max());
  BOOST_TEST(pyactor::value(max_int64).is<int64_t>());
  pyactor::value two_pow_63{max_int64 + 1};
  BOOST_REQUIRE(two_pow_63.is<big_integer>());
  BOOST_TEST(two_pow_63.as<big_integer>().be_twos_complement
             == be({0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}));
  BOOST_TEST(two_pow_63.as<big_integer>().to_string() == "9223372036854775808");
  pyactor::value max_uint64{std::numeric_limits<unsigned long long>::max()};
  BOOST_REQUIRE(max_uint64.is<big_integer>());
  BOOST_TEST(max_uint64.as<big_integer>().to_string() == "18446744073709551615");
  BOOST_TEST(max_uint64 == pyactor::value(big("18446744073709551615")));
}

BOOST_AUTO_TEST_CASE(convenience_constructors) {
  auto t = make_tuple(1, "a", 2.5);
  BOOST_REQUIRE(t.is<tuple>());
  BOOST_TEST(t.as<tuple>().items.size() == 3u);
  BOOST_TEST(t.as<tuple>().items[1].as<std::string>() == "a");
  auto l = make_list(1, 2, 3);
  BOOST_TEST(l.as<list>().size() == 3u);
  auto b = make_bytes(std::string("a\0b", 3));
  BOOST_TEST(b.as<bytes>().data == be({'a', 0, 'b'}));
  BOOST_TEST(pyactor::value().is_none());
}

// -- big_integer ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(big_integer_from_string_is_minimal_twos_complement) {
  BOOST_TEST(big("0").be_twos_complement == be({0x00}));
  BOOST_TEST(big("-0").be_twos_complement == be({0x00}));
  BOOST_TEST(big("000").be_twos_complement == be({0x00}));
  BOOST_TEST(big("1").be_twos_complement == be({0x01}));
  BOOST_TEST(big("-1").be_twos_complement == be({0xff}));
  BOOST_TEST(big("127").be_twos_complement == be({0x7f}));
  BOOST_TEST(big("128").be_twos_complement == be({0x00, 0x80}));
  BOOST_TEST(big("-128").be_twos_complement == be({0x80}));
  BOOST_TEST(big("-129").be_twos_complement == be({0xff, 0x7f}));
  BOOST_TEST(big("255").be_twos_complement == be({0x00, 0xff}));
  BOOST_TEST(big("256").be_twos_complement == be({0x01, 0x00}));
  BOOST_TEST(big("-256").be_twos_complement == be({0xff, 0x00}));
  // -2^63 - 1
  BOOST_TEST(big("-9223372036854775809").be_twos_complement
             == be({0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  // Python: (481229803398374426442198455156736).to_bytes(14, "big", signed=True)
  BOOST_TEST(big("481229803398374426442198455156736").be_twos_complement
             == be({0x17, 0xb9, 0xf9, 0x5b, 0x8d, 0xc8, 0x7c, 0xa4, 0xa4, 0, 0, 0, 0, 0}));
  BOOST_TEST(big("-481229803398374426442198455156736").be_twos_complement
             == be({0xe8, 0x46, 0x06, 0xa4, 0x72, 0x37, 0x83, 0x5b, 0x5c, 0, 0, 0, 0, 0}));
}

BOOST_AUTO_TEST_CASE(big_integer_from_string_rejects_bad_text) {
  big_integer out;
  for (const char* text : {"", "-", "+1", "1.5", "12a", " 1", "1 ", "--1", "0x10", "1e5"})
    BOOST_TEST(!big_integer::from_string(text, out), "accepted '" << text << "'");
}

BOOST_AUTO_TEST_CASE(big_integer_to_string) {
  BOOST_TEST(big_integer{}.to_string() == "0");
  BOOST_TEST(big_integer{be({0x00})}.to_string() == "0");
  BOOST_TEST(big_integer{be({0xff})}.to_string() == "-1");
  BOOST_TEST(big_integer{be({0x80})}.to_string() == "-128");
  BOOST_TEST(big_integer{be({0x80, 0, 0, 0, 0, 0, 0, 0})}.to_string() == "-9223372036854775808");
  BOOST_TEST(big_integer{be({0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})}.to_string()
             == "18446744073709551615");
  // Non-minimal encodings still read correctly.
  BOOST_TEST(big_integer{be({0x00, 0x00, 0x05})}.to_string() == "5");
  BOOST_TEST(big_integer{be({0xff, 0xff, 0xfb})}.to_string() == "-5");
}

BOOST_AUTO_TEST_CASE(big_integer_round_trips) {
  std::vector<std::string> texts = {
    "0",
    "1",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "481229803398374426442198455156736",
    "-481229803398374426442198455156736",
    "1000000000",
    "-1000000000000000000000000000000",
  };
  // 2^1000 and a 400-digit number, both signs.
  std::string two_pow_1000 =
    "10715086071862673209484250490600018105614048117055336074437503883703510511249361224931983788"
    "15695858127594672917553146825187145285692314043598457757469857480393456777482423098542107460"
    "50623711418779541821530464749835819412673987675591655439460770629145711964776865421676604298"
    "31652624386837205668069376";
  texts.push_back(two_pow_1000);
  texts.push_back("-" + two_pow_1000);
  std::string long_digits;
  for (int i = 0; i < 400; ++i)
    long_digits += static_cast<char>('1' + i % 9);
  texts.push_back(long_digits);
  texts.push_back("-" + long_digits);
  for (const auto& text : texts)
    BOOST_TEST(big(text).to_string() == text);
  // 2^1000 is 0x01 followed by 125 zero bytes.
  auto bytes_2_1000 = big(two_pow_1000).be_twos_complement;
  BOOST_REQUIRE(bytes_2_1000.size() == 126u);
  BOOST_TEST(bytes_2_1000[0] == 0x01);
  // -2^1000 is minimal: 0xff then 0x00 * 125.
  auto neg = big("-" + two_pow_1000).be_twos_complement;
  BOOST_REQUIRE(neg.size() == 126u);
  BOOST_TEST(neg[0] == 0xff);
  BOOST_TEST(neg[1] == 0x00);
  BOOST_TEST(big("-" + two_pow_1000).to_string() == "-" + two_pow_1000);
}

// -- equality ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(equality) {
  BOOST_TEST(make_tuple(1, "a") == make_tuple(1, "a"));
  BOOST_TEST(make_tuple(1, "a") != make_tuple(1, "b"));
  BOOST_TEST(make_tuple(1) != make_list(1));
  BOOST_TEST(pyactor::value(1) != pyactor::value(true));
  BOOST_TEST(pyactor::value(1) != pyactor::value(1.0));
  BOOST_TEST(pyactor::value("ok") != pyactor::value(atom{"ok"}));
  dict a{{{"x", 1}, {"y", 2}}};
  dict b{{{"y", 2}, {"x", 1}}};
  dict c{{{"x", 1}, {"y", 3}}};
  dict d{{{"x", 1}}};
  BOOST_TEST(pyactor::value(a) == pyactor::value(a));
  BOOST_TEST(pyactor::value(a) == pyactor::value(b)); // order does not matter, as in Python
  BOOST_TEST(pyactor::value(a) != pyactor::value(c));
  BOOST_TEST(pyactor::value(a) != pyactor::value(d));
  // tagged compares payload values, not pointers
  auto t1 = make_tagged("date", make_tuple(1923, 4, 2));
  auto t2 = make_tagged("date", make_tuple(1923, 4, 2));
  BOOST_TEST(t1.as<tagged>().payload != t2.as<tagged>().payload);
  BOOST_TEST(t1 == t2);
  BOOST_TEST(t1 != make_tagged("date", make_tuple(1923, 4, 3)));
  BOOST_TEST(t1 != make_tagged("time", make_tuple(1923, 4, 2)));
  BOOST_TEST(pyactor::value(tagged{"x", nullptr}) == make_tagged("x", none_t{}));
  // object_ref compares identity, not the type name
  BOOST_TEST(pyactor::value(object_ref{7, 3, "list"}) == pyactor::value(object_ref{7, 3, "dict"}));
  BOOST_TEST(pyactor::value(object_ref{7, 3, "list"}) != pyactor::value(object_ref{8, 3, "list"}));
  BOOST_TEST(pyactor::value(opaque{"pid", be({1, 2})}) == pyactor::value(opaque{"pid", be({1, 2})}));
  BOOST_TEST(pyactor::value(opaque{"pid", be({1, 2})}) != pyactor::value(opaque{"ref", be({1, 2})}));
}

// -- type_name ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(type_names) {
  BOOST_TEST(pyactor::value().type_name() == "NoneType");
  BOOST_TEST(pyactor::value(true).type_name() == "bool");
  BOOST_TEST(pyactor::value(1).type_name() == "int");
  BOOST_TEST(pyactor::value(big("481229803398374426442198455156736")).type_name() == "int");
  BOOST_TEST(pyactor::value(1.5).type_name() == "float");
  BOOST_TEST(pyactor::value("s").type_name() == "str");
  BOOST_TEST(make_bytes("b").type_name() == "bytes");
  BOOST_TEST(make_list().type_name() == "list");
  BOOST_TEST(make_tuple().type_name() == "tuple");
  BOOST_TEST(pyactor::value(dict{}).type_name() == "dict");
  BOOST_TEST(pyactor::value(atom{"ok"}).type_name() == "atom");
  BOOST_TEST(make_tagged("date", make_tuple(1, 2, 3)).type_name() == "tagged");
  BOOST_TEST(pyactor::value(object_ref{1, 2, "list"}).type_name() == "object_ref");
  BOOST_TEST(pyactor::value(opaque{"pid", {}}).type_name() == "opaque");
}

// -- to_string -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(to_string_scalars) {
  BOOST_TEST(pyactor::value().to_string() == "None");
  BOOST_TEST(pyactor::value(true).to_string() == "True");
  BOOST_TEST(pyactor::value(false).to_string() == "False");
  BOOST_TEST(pyactor::value(0).to_string() == "0");
  BOOST_TEST(pyactor::value(-42).to_string() == "-42");
  BOOST_TEST(pyactor::value(std::numeric_limits<int64_t>::min()).to_string()
             == "-9223372036854775808");
  BOOST_TEST(pyactor::value(big("-481229803398374426442198455156736")).to_string()
             == "-481229803398374426442198455156736");
}

BOOST_AUTO_TEST_CASE(to_string_floats_like_python_repr) {
  auto repr = [](double x) { return pyactor::value(x).to_string(); };
  BOOST_TEST(repr(42.0) == "42.0");
  BOOST_TEST(repr(0.0) == "0.0");
  BOOST_TEST(repr(-0.0) == "-0.0");
  BOOST_TEST(repr(1.5) == "1.5");
  BOOST_TEST(repr(-2.25) == "-2.25");
  BOOST_TEST(repr(0.1) == "0.1");
  BOOST_TEST(repr(0.66667) == "0.66667");
  BOOST_TEST(repr(2.0 / 3.0) == "0.6666666666666666");
  BOOST_TEST(repr(3.141592653589793) == "3.141592653589793");
  BOOST_TEST(repr(0.1 + 0.2) == "0.30000000000000004");
  BOOST_TEST(repr(1e100) == "1e+100");
  BOOST_TEST(repr(1.5e-7) == "1.5e-07");
  BOOST_TEST(repr(0.0001) == "0.0001");
  BOOST_TEST(repr(0.00001) == "1e-05");
  BOOST_TEST(repr(1e15) == "1000000000000000.0");
  BOOST_TEST(repr(1e16) == "1e+16");
  BOOST_TEST(repr(123456789012345680.0) == "1.2345678901234568e+17");
  BOOST_TEST(repr(5e-324) == "5e-324");
  BOOST_TEST(repr(1.7976931348623157e308) == "1.7976931348623157e+308");
  BOOST_TEST(repr(std::numeric_limits<double>::infinity()) == "inf");
  BOOST_TEST(repr(-std::numeric_limits<double>::infinity()) == "-inf");
  BOOST_TEST(repr(std::nan("")) == "nan");
}

BOOST_AUTO_TEST_CASE(to_string_str_and_bytes_like_python_repr) {
  BOOST_TEST(pyactor::value("text").to_string() == "'text'");
  BOOST_TEST(pyactor::value("").to_string() == "''");
  BOOST_TEST(pyactor::value("a\\b").to_string() == R"('a\\b')");
  BOOST_TEST(pyactor::value("a\nb\tc\rd").to_string() == R"('a\nb\tc\rd')");
  BOOST_TEST(pyactor::value(std::string("\x01\x1f\x7f", 3)).to_string() == R"('\x01\x1f\x7f')");
  BOOST_TEST(pyactor::value(std::string("\0", 1)).to_string() == R"('\x00')");
  BOOST_TEST(pyactor::value("it's").to_string() == R"("it's")");
  BOOST_TEST(pyactor::value("say \"hi\"").to_string() == R"('say "hi"')");
  BOOST_TEST(pyactor::value("it's \"x\"").to_string() == R"('it\'s "x"')");
  BOOST_TEST(pyactor::value("h\xc3\xa9llo \xe2\x82\xac").to_string() == "'h\xc3\xa9llo \xe2\x82\xac'");
  BOOST_TEST(make_bytes("abc").to_string() == "b'abc'");
  BOOST_TEST(make_bytes("").to_string() == "b''");
  BOOST_TEST(make_bytes(std::string("\x00\xff\x7f\x80\n\\", 6)).to_string()
             == R"(b'\x00\xff\x7f\x80\n\\')");
  BOOST_TEST(make_bytes("it's").to_string() == R"(b"it's")");
}

BOOST_AUTO_TEST_CASE(to_string_containers) {
  BOOST_TEST(make_list(1, 2).to_string() == "[1, 2]");
  BOOST_TEST(make_list().to_string() == "[]");
  BOOST_TEST(make_tuple().to_string() == "()");
  BOOST_TEST(make_tuple(1).to_string() == "(1,)");
  BOOST_TEST(make_tuple(1, 2).to_string() == "(1, 2)");
  BOOST_TEST(pyactor::value(dict{}).to_string() == "{}");
  BOOST_TEST(pyactor::value(dict{{{"a", 1}}}).to_string() == "{'a': 1}");
  BOOST_TEST(pyactor::value(dict{{{"a", make_list(1, make_tuple("x", none_t{}))}, {2, 2.5}}})
               .to_string()
             == "{'a': [1, ('x', None)], 2: 2.5}");
}

BOOST_AUTO_TEST_CASE(to_string_pyactor_types) {
  BOOST_TEST(pyactor::value(atom{"ok"}).to_string() == ":ok");
  BOOST_TEST(pyactor::value(atom{"valid?"}).to_string() == ":valid?");
  BOOST_TEST(pyactor::value(atom{"hello world"}).to_string() == ":'hello world'");
  BOOST_TEST(pyactor::value(atom{""}).to_string() == ":''");
  BOOST_TEST(make_tagged("date", make_tuple(1923, 4, 2)).to_string() == "#date(1923, 4, 2)");
  BOOST_TEST(make_tagged("decimal", "1.5").to_string() == "#decimal('1.5')");
  BOOST_TEST(make_tagged("one", make_tuple(1)).to_string() == "#one(1,)");
  BOOST_TEST(make_tagged("empty", make_tuple()).to_string() == "#empty()");
  BOOST_TEST(pyactor::value(tagged{"null", nullptr}).to_string() == "#null(None)");
  BOOST_TEST(pyactor::value(object_ref{7, 3, "list"}).to_string() == "<list object #3 in worker 7>");
  BOOST_TEST(pyactor::value(opaque{"pid", std::vector<uint8_t>(12, 0)}).to_string()
             == "<opaque pid 12 bytes>");
}

// -- error -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(errc_names_round_trip) {
  const std::vector<std::pair<errc, std::string>> names = {
    {errc::python_exception, "python_exception"},
    {errc::timeout, "timeout"},
    {errc::worker_crashed, "worker_crashed"},
    {errc::node_down, "node_down"},
    {errc::stale_ref, "stale_ref"},
    {errc::no_workers, "no_workers"},
    {errc::overloaded, "overloaded"},
    {errc::bad_request, "bad_request"},
    {errc::cancelled, "cancelled"},
    {errc::cross_worker_ref, "cross_worker_ref"},
    {errc::not_running, "not_running"},
  };
  for (const auto& [code, name] : names) {
    BOOST_TEST(to_string(code) == name);
    errc parsed = errc::timeout;
    BOOST_TEST(from_string(name, parsed));
    BOOST_TEST(static_cast<int>(parsed) == static_cast<int>(code));
  }
  errc parsed = errc::timeout;
  BOOST_TEST(!from_string("no_such_error", parsed));
  BOOST_TEST(!from_string("", parsed));
  BOOST_TEST(!from_string("Timeout", parsed));
  BOOST_TEST(static_cast<int>(parsed) == static_cast<int>(errc::timeout));
}

BOOST_AUTO_TEST_CASE(error_to_string) {
  error py{errc::python_exception, "division by zero", "ZeroDivisionError", "Traceback ..."};
  BOOST_TEST(py.to_string() == "python_exception: ZeroDivisionError: division by zero");
  auto crash = make_error(errc::worker_crashed, "worker 2 (pid 123) was killed by signal 9");
  BOOST_TEST(crash.to_string() == "worker_crashed: worker 2 (pid 123) was killed by signal 9");
  BOOST_TEST(make_error(errc::timeout, "").to_string() == "timeout");
  call_error ce{crash};
  BOOST_TEST(std::string(ce.what()) == crash.to_string());
  BOOST_TEST(ce.error().message == crash.message);
}

BOOST_AUTO_TEST_CASE(result_holds_value_or_error) {
  result<pyactor::value> ok{pyactor::value(1)};
  BOOST_TEST(ok.ok());
  BOOST_TEST(ok.value().as<int64_t>() == 1);
  result<pyactor::value> bad{make_error(errc::stale_ref, "object #3 is gone")};
  BOOST_TEST(!bad.ok());
  BOOST_TEST(static_cast<int>(bad.error().code) == static_cast<int>(errc::stale_ref));
  BOOST_CHECK_THROW(bad.value(), call_error);
}

BOOST_AUTO_TEST_CASE(deep_values_copy_compare_render_and_destroy_without_recursion) {
  // 100,000 levels: recursion on the depth would overflow the stack.
  constexpr size_t depth = 100000;
  auto build = [&](int leaf) {
    pyactor::value v{leaf};
    for (size_t i = 0; i < depth; ++i) {
      if (i % 4 == 0)
        v = pyactor::list{std::move(v)};
      else if (i % 4 == 1)
        v = tuple{{std::move(v), pyactor::value{1}}};
      else if (i % 4 == 2)
        v = dict{{{pyactor::value{"k"}, std::move(v)}}};
      else
        v = make_tagged("t", std::move(v));
    }
    return v;
  };
  auto deep = build(7);
  BOOST_TEST(depth_of(deep) == depth);
  pyactor::value copy = deep; // copy constructor
  BOOST_TEST((copy == deep));
  pyactor::value other = build(8);
  BOOST_TEST((copy != other));
  other = copy; // copy assignment replaces (and destroys) a deep value
  BOOST_TEST((other == deep));
  other = pyactor::list{std::move(other)};
  other = other.as<pyactor::list>().front(); // from inside itself
  BOOST_TEST(depth_of(other) == depth);
  BOOST_TEST((other == deep));
  auto text = deep.to_string();
  BOOST_TEST(text.size() > depth);
  BOOST_TEST(text.substr(0, 9) == "#t({'k': ");
  { pyactor::value gone = std::move(copy); } // destroyed here
  BOOST_TEST(depth_of(pyactor::value{}) == 0u);
  BOOST_TEST(depth_of(pyactor::list{}) == 1u);
  BOOST_TEST(depth_of(make_list(make_list(1))) == 2u);
  // A shared tagged payload survives the destruction of one owner.
  auto shared = make_tagged("p", make_list(make_list(1)));
  {
    pyactor::value owner = shared;
  }
  BOOST_TEST(shared.to_string() == "#p([[1]])");
}

BOOST_AUTO_TEST_CASE(dict_equality_ignores_order_at_any_depth) {
  auto a = dict{{{pyactor::value{"x"}, make_list(1)}, {pyactor::value{"y"}, make_list(2)}}};
  auto b = dict{{{pyactor::value{"y"}, make_list(2)}, {pyactor::value{"x"}, make_list(1)}}};
  auto c = dict{{{pyactor::value{"y"}, make_list(2)}, {pyactor::value{"x"}, make_list(3)}}};
  BOOST_TEST((pyactor::value{a} == pyactor::value{b}));
  BOOST_TEST((pyactor::value{a} != pyactor::value{c}));
  BOOST_TEST((make_list(a) == make_list(b)));
  BOOST_TEST((a == b));
  BOOST_TEST(!(a == c));
}

BOOST_AUTO_TEST_SUITE_END()
