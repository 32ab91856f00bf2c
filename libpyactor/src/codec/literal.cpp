// JSON-like literals for the command line: a small recursive-descent parser.
#include "pyactor/codec/literal.hpp"

#include "pyactor/limits.hpp"

#include <charconv>
#include <cstring>
#include <limits>
#include <system_error>

namespace pyactor::codec {

namespace {

constexpr size_t max_depth = limits::max_value_depth;

/// Longest input quoted whole in an error message.
constexpr size_t max_quoted_text = 80;

/// Characters that end a bare word inside a container.
constexpr const char* bare_word_stops = ",:[]{}()\"'";

/// Internal: carries an error message to parse_literal.
struct parse_failure {
  std::string message;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// Recursive descent over one literal. Not thread-safe; one per call.
class parser {
public:
  explicit parser(const std::string& text) : text_(text) {
    // nop
  }

  value parse_all() {
    skip_space();
    if (at_end())
      fail_expected("a value");
    auto result = parse_value(0, true);
    skip_space();
    if (!at_end())
      fail_expected("end of input");
    return result;
  }

private:
  // -- errors ------------------------------------------------------------------

  [[noreturn]] void fail_at(size_t offset, const std::string& reason) const {
    std::string msg = "literal: " + reason + " at offset " + std::to_string(offset);
    if (offset >= text_.size())
      msg += " (end of input)";
    msg += " in \"";
    if (text_.size() <= max_quoted_text) {
      msg += text_;
    } else {
      msg.append(text_, 0, max_quoted_text - 3);
      msg += "...";
    }
    msg += '"';
    throw parse_failure{std::move(msg)};
  }

  [[noreturn]] void fail_expected(const std::string& what) const {
    fail_at(pos_, "expected " + what);
  }

  // -- scanning ----------------------------------------------------------------

  bool at_end() const { return pos_ >= text_.size(); }

  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  void skip_space() {
    while (!at_end() && is_space(text_[pos_]))
      ++pos_;
  }

  // -- grammar -----------------------------------------------------------------

  value parse_value(size_t depth, bool top_level) {
    char c = peek();
    switch (c) {
      case '[':
        return parse_list(depth + 1);
      case '{':
        return parse_dict(depth + 1);
      case '(':
        return parse_tuple(depth + 1);
      case '"':
      case '\'':
        return parse_string(false);
      default:
        break;
    }
    if (c == 'b' && (peek(1) == '"' || peek(1) == '\'')) {
      ++pos_;
      return parse_string(true);
    }
    if (is_digit(c) || (c == '-' && is_digit(peek(1))))
      return parse_number();
    if (at_end() || std::strchr(",:]})", c) != nullptr)
      fail_expected("a value");
    return parse_word(top_level);
  }

  void enter(size_t depth) const {
    if (depth > max_depth)
      fail_at(pos_, "nesting deeper than " + std::to_string(max_depth));
  }

  value parse_list(size_t depth) {
    enter(depth);
    ++pos_; // '['
    list result;
    parse_sequence(']', "']'", depth, [&](value x) { result.push_back(std::move(x)); });
    return result;
  }

  /// Parses `item (, item)* [,] close` after the opening bracket; `,` then
  /// the closing bracket is allowed, as in Python.
  template <class Sink>
  void parse_sequence(char close, const char* close_name, size_t depth, Sink&& sink) {
    skip_space();
    if (peek() == close) {
      ++pos_;
      return;
    }
    for (;;) {
      sink(parse_value(depth, false));
      skip_space();
      if (peek() == close) {
        ++pos_;
        return;
      }
      if (peek() != ',')
        fail_expected(std::string{"',' or "} + close_name);
      ++pos_;
      skip_space();
      if (peek() == close) {
        ++pos_;
        return;
      }
    }
  }

  value parse_dict(size_t depth) {
    enter(depth);
    ++pos_; // '{'
    dict result;
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return result;
    }
    for (;;) {
      auto key = parse_value(depth, false);
      skip_space();
      if (peek() != ':')
        fail_expected("':'");
      ++pos_;
      skip_space();
      auto val = parse_value(depth, false);
      result.items.emplace_back(std::move(key), std::move(val));
      skip_space();
      if (peek() == '}') {
        ++pos_;
        return result;
      }
      if (peek() != ',')
        fail_expected("',' or '}'");
      ++pos_;
      skip_space();
      if (peek() == '}') {
        ++pos_;
        return result;
      }
    }
  }

  /// `()`, `(x,)`, `(x, y)`; `(x)` is just `x`, as in Python.
  value parse_tuple(size_t depth) {
    enter(depth);
    ++pos_; // '('
    skip_space();
    if (peek() == ')') {
      ++pos_;
      return tuple{};
    }
    auto first = parse_value(depth, false);
    skip_space();
    if (peek() == ')') {
      ++pos_;
      return first;
    }
    if (peek() != ',')
      fail_expected("',' or ')'");
    ++pos_;
    tuple result;
    result.items.push_back(std::move(first));
    parse_sequence(')', "')'", depth, [&](value x) { result.items.push_back(std::move(x)); });
    return result;
  }

  value parse_string(bool is_bytes) {
    size_t start = is_bytes ? pos_ - 1 : pos_;
    char quote = text_[pos_++];
    std::string out;
    for (;;) {
      if (at_end())
        fail_at(start, "unterminated string");
      char c = text_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      parse_escape(out, is_bytes);
    }
    if (is_bytes)
      return pyactor::bytes{std::vector<uint8_t>(out.begin(), out.end())};
    return out;
  }

  void parse_escape(std::string& out, bool is_bytes) {
    size_t start = pos_;
    ++pos_; // '\'
    if (at_end())
      fail_at(start, "incomplete escape");
    char c = text_[pos_++];
    switch (c) {
      case '"':
      case '\'':
      case '\\':
      case '/':
        out += c;
        return;
      case 'b':
        out += '\b';
        return;
      case 'f':
        out += '\f';
        return;
      case 'n':
        out += '\n';
        return;
      case 'r':
        out += '\r';
        return;
      case 't':
        out += '\t';
        return;
      case '0':
        out += '\0';
        return;
      case 'x': {
        int hi = hex_value(peek());
        int lo = hex_value(peek(1));
        if (hi < 0 || lo < 0)
          fail_at(start, "expected two hex digits after \\x");
        pos_ += 2;
        auto x = static_cast<uint32_t>(hi * 16 + lo);
        if (is_bytes)
          out += static_cast<char>(x);
        else
          append_utf8(out, x);
        return;
      }
      case 'u': {
        if (is_bytes)
          fail_at(start, "\\u escape in bytes");
        uint32_t cp = parse_hex4(start);
        if (cp >= 0xdc00 && cp <= 0xdfff)
          fail_at(start, "unpaired surrogate \\u" + text_.substr(start + 2, 4));
        if (cp >= 0xd800 && cp <= 0xdbff) {
          size_t low_start = pos_;
          if (peek() != '\\' || peek(1) != 'u')
            fail_at(start, "unpaired surrogate \\u" + text_.substr(start + 2, 4));
          pos_ += 2;
          uint32_t low = parse_hex4(low_start);
          if (low < 0xdc00 || low > 0xdfff)
            fail_at(start, "unpaired surrogate \\u" + text_.substr(start + 2, 4));
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        append_utf8(out, cp);
        return;
      }
      default:
        fail_at(start, std::string{"invalid escape \\"} + c);
    }
  }

  uint32_t parse_hex4(size_t escape_start) {
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex_value(peek());
      if (h < 0)
        fail_at(escape_start, "expected four hex digits after \\u");
      cp = cp * 16 + static_cast<uint32_t>(h);
      ++pos_;
    }
    return cp;
  }

  value parse_number() {
    size_t start = pos_;
    bool negative = peek() == '-';
    if (negative)
      ++pos_;
    size_t int_start = pos_;
    if (peek() == '0' && is_digit(peek(1)))
      fail_at(pos_, "leading zero in number");
    while (is_digit(peek()))
      ++pos_;
    size_t int_len = pos_ - int_start;
    bool is_float = false;
    if (peek() == '.') {
      is_float = true;
      ++pos_;
      if (!is_digit(peek()))
        fail_expected("a digit after '.'");
      while (is_digit(peek()))
        ++pos_;
    }
    size_t mantissa_end = pos_;
    long long exponent = 0;
    if (peek() == 'e' || peek() == 'E') {
      is_float = true;
      ++pos_;
      bool exp_negative = false;
      if (peek() == '+' || peek() == '-') {
        exp_negative = peek() == '-';
        ++pos_;
      }
      if (!is_digit(peek()))
        fail_expected("a digit in the exponent");
      while (is_digit(peek())) {
        if (exponent < 1000000)
          exponent = exponent * 10 + (peek() - '0');
        ++pos_;
      }
      if (exp_negative)
        exponent = -exponent;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (!is_float) {
      int64_t x = 0;
      auto res = std::from_chars(first, last, x);
      if (res.ec == std::errc{} && res.ptr == last)
        return x;
      big_integer big;
      if (!big_integer::from_string(std::string(first, last), big))
        fail_at(start, "invalid integer");
      return big;
    }
    double x = 0;
    auto res = std::from_chars(first, last, x);
    if (res.ec == std::errc::result_out_of_range) {
      // Overflow gives inf and underflow zero, as Python's float() does.
      // The decimal magnitude says which: digits before the point (after
      // leading zeros) plus the exponent.
      const char* digits = text_.data() + int_start;
      size_t mantissa_len = mantissa_end - int_start;
      long long first_nonzero = 0;
      long long seen = 0;
      for (size_t i = 0; i < mantissa_len; ++i) {
        if (digits[i] == '.')
          continue;
        if (digits[i] != '0') {
          first_nonzero = seen;
          break;
        }
        ++seen;
      }
      long long magnitude = static_cast<long long>(int_len) - first_nonzero + exponent;
      x = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
      if (negative)
        x = -x;
    } else if (res.ec != std::errc{} || res.ptr != last) {
      fail_at(start, "invalid number");
    }
    return x;
  }

  /// A keyword, or else text taken as a string: at top level the rest of
  /// the input (so `hello world` works), inside a container up to
  /// whitespace or punctuation.
  value parse_word(bool top_level) {
    size_t start = pos_;
    if (top_level) {
      pos_ = text_.size();
      while (pos_ > start && is_space(text_[pos_ - 1]))
        --pos_;
    } else {
      while (!at_end() && !is_space(peek()) && std::strchr(bare_word_stops, peek()) == nullptr)
        ++pos_;
    }
    std::string word = text_.substr(start, pos_ - start);
    if (word == "true" || word == "True")
      return true;
    if (word == "false" || word == "False")
      return false;
    if (word == "null" || word == "None")
      return none_t{};
    return word;
  }

  const std::string& text_;
  size_t pos_ = 0;
};

} // namespace

result<value> parse_literal(const std::string& text) {
  try {
    return parser{text}.parse_all();
  } catch (const parse_failure& e) {
    return make_error(errc::bad_request, e.message);
  } catch (const std::bad_alloc&) {
    return make_error(errc::bad_request, "literal: out of memory");
  }
}

} // namespace pyactor::codec
