// pyactor::value: constructors, big integers, equality and Python-like rendering.
#include "pyactor/value.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>

namespace pyactor {

namespace {

// -- big integer arithmetic on little-endian 32-bit limbs ---------------------

using limbs = std::vector<uint32_t>;

/// Drops redundant sign bytes so `x` is minimal two's complement (at least one byte).
void minimize_twos_complement(std::vector<uint8_t>& x) {
  size_t skip = 0;
  while (skip + 1 < x.size()) {
    bool redundant_zero = x[skip] == 0x00 && (x[skip + 1] & 0x80) == 0;
    bool redundant_ones = x[skip] == 0xff && (x[skip + 1] & 0x80) != 0;
    if (!redundant_zero && !redundant_ones)
      break;
    ++skip;
  }
  x.erase(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(skip));
}

/// Negates big-endian two's complement bytes in place (invert, add one).
void negate_twos_complement(std::vector<uint8_t>& x) {
  unsigned carry = 1;
  for (size_t i = x.size(); i-- > 0;) {
    unsigned sum = static_cast<uint8_t>(~x[i]) + carry;
    x[i] = static_cast<uint8_t>(sum & 0xff);
    carry = sum >> 8;
  }
}

limbs limbs_from_be(const std::vector<uint8_t>& be) {
  limbs out((be.size() + 3) / 4, 0);
  size_t bit = 0;
  for (size_t i = be.size(); i-- > 0; bit += 8)
    out[bit / 32] |= uint32_t{be[i]} << (bit % 32);
  return out;
}

std::vector<uint8_t> be_from_limbs(const limbs& x) {
  std::vector<uint8_t> out;
  out.reserve(x.size() * 4);
  for (size_t i = x.size(); i-- > 0;)
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<uint8_t>((x[i] >> shift) & 0xff));
  return out;
}

void trim(limbs& x) {
  while (!x.empty() && x.back() == 0)
    x.pop_back();
}

/// x = x * factor + addend.
void mul_add(limbs& x, uint32_t factor, uint32_t addend) {
  uint64_t carry = addend;
  for (auto& limb : x) {
    uint64_t t = uint64_t{limb} * factor + carry;
    limb = static_cast<uint32_t>(t);
    carry = t >> 32;
  }
  if (carry != 0)
    x.push_back(static_cast<uint32_t>(carry));
}

/// x = x / divisor; returns the remainder. `x` must be trimmed.
uint32_t div_mod(limbs& x, uint32_t divisor) {
  uint64_t rem = 0;
  for (size_t i = x.size(); i-- > 0;) {
    uint64_t cur = (rem << 32) | x[i];
    x[i] = static_cast<uint32_t>(cur / divisor);
    rem = cur % divisor;
  }
  trim(x);
  return static_cast<uint32_t>(rem);
}

// -- rendering helpers --------------------------------------------------------

const char hex_digits[] = "0123456789abcdef";

void append_hex_escape(std::string& out, uint8_t c) {
  out += "\\x";
  out += hex_digits[c >> 4];
  out += hex_digits[c & 0x0f];
}

/// Appends `text` quoted the way Python's repr() quotes str and bytes:
/// single quotes unless the text holds `'` but no `"`. `is_bytes` also
/// escapes bytes >= 0x7f; for str, non-ASCII UTF-8 stays as is.
void append_quoted(std::string& out, const char* data, size_t size, bool is_bytes) {
  bool has_single = std::find(data, data + size, '\'') != data + size;
  bool has_double = std::find(data, data + size, '"') != data + size;
  char quote = (has_single && !has_double) ? '"' : '\'';
  out += quote;
  for (size_t i = 0; i < size; ++i) {
    auto c = static_cast<uint8_t>(data[i]);
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c == static_cast<uint8_t>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f || (is_bytes && c > 0x7f)) {
          append_hex_escape(out, c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
}

/// Appends `x` as Python's repr(float) does: the shortest text that reads
/// back to `x`, fixed notation for exponents in [-4, 16), else scientific.
void append_double(std::string& out, double x) {
  if (std::isnan(x)) {
    out += "nan";
    return;
  }
  if (std::isinf(x)) {
    out += x < 0 ? "-inf" : "inf";
    return;
  }
  // Shortest round-trip digits, e.g. "-1.2345e+02".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = sci[0] == '-';
  size_t pos = negative ? 1 : 0;
  size_t e_pos = sci.find('e');
  std::string digits;
  for (size_t i = pos; i < e_pos; ++i)
    if (sci[i] != '.')
      digits += sci[i];
  int exponent = std::stoi(sci.substr(e_pos + 1));
  if (negative)
    out += '-';
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      auto int_len = static_cast<size_t>(exponent) + 1;
      if (digits.size() <= int_len) {
        out += digits;
        out.append(int_len - digits.size(), '0');
        out += ".0";
      } else {
        out.append(digits, 0, int_len);
        out += '.';
        out.append(digits, int_len, std::string::npos);
      }
    } else {
      out += "0.";
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out += digits;
    }
  } else {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += exponent < 0 ? '-' : '+';
    auto magnitude = std::to_string(exponent < 0 ? -exponent : exponent);
    if (magnitude.size() < 2)
      out += '0';
    out += magnitude;
  }
}

bool is_plain_atom(const std::string& name) {
  if (name.empty())
    return false;
  auto c0 = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(c0) || c0 == '_'))
    return false;
  for (size_t i = 1; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    bool last = i + 1 == name.size();
    if (!(std::isalnum(c) || c == '_' || c == '@' || (last && (c == '?' || c == '!'))))
      return false;
  }
  return true;
}

/// Renders a scalar (not a list, tuple, dict or tagged value).
struct scalar_renderer {
  std::string& out;

  void operator()(none_t) { out += "None"; }
  void operator()(bool x) { out += x ? "True" : "False"; }
  void operator()(int64_t x) { out += std::to_string(x); }
  void operator()(const big_integer& x) { out += x.to_string(); }
  void operator()(double x) { append_double(out, x); }
  void operator()(const std::string& x) { append_quoted(out, x.data(), x.size(), false); }
  void operator()(const bytes& x) {
    out += 'b';
    append_quoted(out, reinterpret_cast<const char*>(x.data.data()), x.data.size(), true);
  }
  void operator()(const atom& x) {
    out += ':';
    if (is_plain_atom(x.name))
      out += x.name;
    else
      append_quoted(out, x.name.data(), x.name.size(), false);
  }
  void operator()(const object_ref& x) {
    out += '<';
    out += x.type_name.empty() ? "?" : x.type_name;
    out += " object #";
    out += std::to_string(x.object_id);
    out += " in worker ";
    out += std::to_string(x.worker_uid);
    out += '>';
  }
  void operator()(const opaque& x) {
    out += "<opaque ";
    out += x.kind;
    out += ' ';
    out += std::to_string(x.data.size());
    out += x.data.size() == 1 ? " byte>" : " bytes>";
  }
  template <class Container>
  void operator()(const Container&) {
    // nop: containers are rendered by append_value
  }
};

/// Renders `x` with an explicit stack (no recursion on its depth).
void append_value(std::string& out, const value& x) {
  static const value none;
  // A step renders a value or, when `text` is set, appends that text.
  struct step {
    const value* v;
    const char* text;
  };
  std::vector<step> todo{{&x, nullptr}};
  auto push_items = [&](const std::vector<value>& items, const char* close, bool one_comma) {
    todo.push_back({nullptr, close});
    if (one_comma && items.size() == 1)
      todo.push_back({nullptr, ","});
    for (size_t i = items.size(); i-- > 0;) {
      todo.push_back({&items[i], nullptr});
      if (i > 0)
        todo.push_back({nullptr, ", "});
    }
  };
  while (!todo.empty()) {
    auto s = todo.back();
    todo.pop_back();
    if (s.text != nullptr) {
      out += s.text;
      continue;
    }
    const value& v = *s.v;
    if (auto l = v.get_if<list>()) {
      out += '[';
      push_items(*l, "]", false);
    } else if (auto t = v.get_if<tuple>()) {
      out += '(';
      push_items(t->items, ")", true);
    } else if (auto d = v.get_if<dict>()) {
      out += '{';
      todo.push_back({nullptr, "}"});
      for (size_t i = d->items.size(); i-- > 0;) {
        todo.push_back({&d->items[i].second, nullptr});
        todo.push_back({nullptr, ": "});
        todo.push_back({&d->items[i].first, nullptr});
        if (i > 0)
          todo.push_back({nullptr, ", "});
      }
    } else if (auto g = v.get_if<tagged>()) {
      out += '#';
      out += g->tag;
      if (g->payload && g->payload->is<tuple>()) {
        // `#date(1923, 4, 2)`; a 1-tuple keeps its comma: `#tag(1,)`.
        todo.push_back({g->payload.get(), nullptr});
        continue;
      }
      out += '(';
      todo.push_back({nullptr, ")"});
      todo.push_back({g->payload ? g->payload.get() : &none, nullptr});
    } else {
      std::visit(scalar_renderer{out}, v.variant());
    }
  }
}

/// True for a non-empty list, tuple or dict, or a tagged value with a payload.
bool holds_values(const value::variant_type& v) {
  if (auto l = std::get_if<list>(&v))
    return !l->empty();
  if (auto t = std::get_if<tuple>(&v))
    return !t->items.empty();
  if (auto d = std::get_if<dict>(&v))
    return !d->items.empty();
  if (auto g = std::get_if<tagged>(&v))
    return g->payload != nullptr;
  return false;
}

/// Moves the children of `v` that hold values themselves into `out`, so
/// that destroying `v` afterwards does not descend. A tagged payload is
/// taken only from its last owner.
void detach_nested(value::variant_type& v, std::vector<value>& out) {
  auto take = [&](value& child) {
    if (holds_values(child.variant()))
      out.push_back(std::move(child));
  };
  if (auto l = std::get_if<list>(&v)) {
    for (auto& child : *l)
      take(child);
  } else if (auto t = std::get_if<tuple>(&v)) {
    for (auto& child : t->items)
      take(child);
  } else if (auto d = std::get_if<dict>(&v)) {
    for (auto& kv : d->items) {
      take(kv.first);
      take(kv.second);
    }
  } else if (auto g = std::get_if<tagged>(&v)) {
    auto payload = std::move(g->payload);
    if (payload && payload.use_count() == 1)
      take(const_cast<value&>(*payload)); // allocated non-const by make_tagged
  }
}

/// Compares two scalars of the same alternative.
struct scalar_equal {
  template <class T>
  bool operator()(const T& a, const T& b) const {
    if constexpr (std::is_same_v<T, list> || std::is_same_v<T, tuple> || std::is_same_v<T, dict>
                  || std::is_same_v<T, tagged>)
      return false; // not a scalar: handled by operator==
    else
      return a == b;
  }
  template <class T, class U>
  bool operator()(const T&, const U&) const {
    return false;
  }
};

} // namespace

// -- big_integer --------------------------------------------------------------

std::string big_integer::to_string() const {
  if (be_twos_complement.empty())
    return "0";
  auto magnitude = be_twos_complement;
  bool negative = (magnitude[0] & 0x80) != 0;
  if (negative) {
    // Widen by one byte first so the most negative value negates correctly.
    magnitude.insert(magnitude.begin(), 0xff);
    negate_twos_complement(magnitude);
  }
  auto x = limbs_from_be(magnitude);
  trim(x);
  if (x.empty())
    return "0";
  std::vector<uint32_t> chunks; // base 10^9, least significant first
  while (!x.empty())
    chunks.push_back(div_mod(x, 1000000000u));
  std::string out = negative ? "-" : "";
  out += std::to_string(chunks.back());
  for (size_t i = chunks.size() - 1; i-- > 0;) {
    auto part = std::to_string(chunks[i]);
    out.append(9 - part.size(), '0');
    out += part;
  }
  return out;
}

bool big_integer::from_string(const std::string& text, big_integer& out) {
  size_t pos = 0;
  bool negative = false;
  if (!text.empty() && text[0] == '-') {
    negative = true;
    pos = 1;
  }
  if (pos == text.size())
    return false;
  for (size_t i = pos; i < text.size(); ++i)
    if (text[i] < '0' || text[i] > '9')
      return false;
  limbs x;
  while (pos < text.size()) {
    size_t n = std::min<size_t>(9, text.size() - pos);
    uint32_t factor = 1;
    uint32_t chunk = 0;
    for (size_t i = 0; i < n; ++i) {
      factor *= 10;
      chunk = chunk * 10 + static_cast<uint32_t>(text[pos + i] - '0');
    }
    mul_add(x, factor, chunk);
    pos += n;
  }
  auto be = be_from_limbs(x);
  be.insert(be.begin(), 0x00); // room for the sign bit
  if (negative)
    negate_twos_complement(be);
  minimize_twos_complement(be);
  out.be_twos_complement = std::move(be);
  return true;
}

// -- equality -----------------------------------------------------------------

bool operator==(const value& a, const value& b) {
  static const value none;
  // Pairs still to compare; an explicit stack instead of recursion.
  std::vector<std::pair<const value*, const value*>> todo{{&a, &b}};
  auto push_items = [&](const std::vector<value>& xs, const std::vector<value>& ys) {
    if (xs.size() != ys.size())
      return false;
    for (size_t i = 0; i < xs.size(); ++i)
      todo.emplace_back(&xs[i], &ys[i]);
    return true;
  };
  while (!todo.empty()) {
    auto [x, y] = todo.back();
    todo.pop_back();
    if (x == y)
      continue;
    auto& vx = x->variant();
    auto& vy = y->variant();
    if (vx.index() != vy.index())
      return false;
    if (auto l = std::get_if<list>(&vx)) {
      if (!push_items(*l, std::get<list>(vy)))
        return false;
    } else if (auto t = std::get_if<tuple>(&vx)) {
      if (!push_items(t->items, std::get<tuple>(vy).items))
        return false;
    } else if (auto d = std::get_if<dict>(&vx)) {
      auto& e = std::get<dict>(vy);
      if (d->items.size() != e.items.size())
        return false;
      for (size_t i = 0; i < d->items.size(); ++i) {
        auto& [key, val] = d->items[i];
        // Like Python, order does not matter: the same position first, else
        // a search (keys are hashable in Python, so they are shallow).
        const value* other = nullptr;
        if (e.items[i].first == key) {
          other = &e.items[i].second;
        } else {
          auto match = std::find_if(e.items.begin(), e.items.end(),
                                    [&key = key](const auto& kv) { return kv.first == key; });
          if (match == e.items.end())
            return false;
          other = &match->second;
        }
        todo.emplace_back(&val, other);
      }
    } else if (auto g = std::get_if<tagged>(&vx)) {
      auto& h = std::get<tagged>(vy);
      if (g->tag != h.tag)
        return false;
      if (g->payload != h.payload)
        todo.emplace_back(g->payload ? g->payload.get() : &none,
                          h.payload ? h.payload.get() : &none);
    } else if (!std::visit(scalar_equal{}, vx, vy)) {
      return false;
    }
  }
  return true;
}

bool operator==(const tuple& a, const tuple& b) {
  return a.items == b.items; // each item by value's operator==
}

bool operator==(const dict& a, const dict& b) {
  if (a.items.size() != b.items.size())
    return false;
  for (size_t i = 0; i < a.items.size(); ++i) {
    auto& [key, val] = a.items[i];
    auto match = b.items.begin() + static_cast<std::ptrdiff_t>(i); // same position first
    if (!(match->first == key))
      match = std::find_if(b.items.begin(), b.items.end(),
                           [&key = key](const auto& kv) { return kv.first == key; });
    if (match == b.items.end() || !(match->second == val))
      return false;
  }
  return true;
}

bool operator==(const tagged& a, const tagged& b) {
  if (a.tag != b.tag)
    return false;
  if (a.payload == b.payload)
    return true;
  static const value none;
  return (a.payload ? *a.payload : none) == (b.payload ? *b.payload : none);
}

// -- value --------------------------------------------------------------------

value::value(const value& other) {
  if (!std::holds_alternative<list>(other.v_) && !std::holds_alternative<tuple>(other.v_)
      && !std::holds_alternative<dict>(other.v_)) {
    v_ = other.v_; // a scalar, or a tagged value sharing its immutable payload
    return;
  }
  // Copies container by container with an explicit stack: a container is
  // sized before the addresses of its items are taken, so they stay valid.
  std::vector<std::pair<const value*, value*>> todo{{&other, this}};
  auto copy_into = [&](const value& from, value& to) {
    auto& v = from.v_;
    if (std::holds_alternative<list>(v) || std::holds_alternative<tuple>(v)
        || std::holds_alternative<dict>(v))
      todo.emplace_back(&from, &to);
    else
      to.v_ = v;
  };
  while (!todo.empty()) {
    auto [from, to] = todo.back();
    todo.pop_back();
    if (auto l = std::get_if<list>(&from->v_)) {
      auto& out = to->v_.emplace<list>(l->size());
      for (size_t i = 0; i < l->size(); ++i)
        copy_into((*l)[i], out[i]);
    } else if (auto t = std::get_if<tuple>(&from->v_)) {
      auto& out = to->v_.emplace<tuple>();
      out.items.resize(t->items.size());
      for (size_t i = 0; i < t->items.size(); ++i)
        copy_into(t->items[i], out.items[i]);
    } else {
      auto& d = std::get<dict>(from->v_);
      auto& out = to->v_.emplace<dict>();
      out.items.resize(d.items.size());
      for (size_t i = 0; i < d.items.size(); ++i) {
        copy_into(d.items[i].first, out.items[i].first);
        copy_into(d.items[i].second, out.items[i].second);
      }
    }
  }
}

size_t depth_of(const value& x) {
  size_t deepest = 0;
  std::vector<std::pair<const value*, size_t>> todo{{&x, 0}};
  auto push = [&](const value& child, size_t depth) { todo.emplace_back(&child, depth); };
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    deepest = std::max(deepest, depth);
    if (auto l = v->get_if<list>()) {
      deepest = std::max(deepest, depth + 1);
      for (auto& c : *l)
        push(c, depth + 1);
    } else if (auto t = v->get_if<tuple>()) {
      deepest = std::max(deepest, depth + 1);
      for (auto& c : t->items)
        push(c, depth + 1);
    } else if (auto d = v->get_if<dict>()) {
      deepest = std::max(deepest, depth + 1);
      for (auto& kv : d->items) {
        push(kv.first, depth + 1);
        push(kv.second, depth + 1);
      }
    } else if (auto g = v->get_if<tagged>()) {
      deepest = std::max(deepest, depth + 1);
      if (g->payload)
        push(*g->payload, depth + 1);
    }
  }
  return deepest;
}

value& value::operator=(const value& other) {
  if (this != &other) {
    value copy{other}; // first: `other` may live inside this value
    v_ = std::move(copy.v_);
  }
  return *this;
}

namespace {

/// Set while a value of bounded depth is destroyed the plain recursive way:
/// the values inside it then skip every check.
thread_local int plain_teardown = 0;

/// Depth at most this: destroyed recursively (the stack holds that much).
constexpr int plain_teardown_depth = 32;

/// True if `v` nests containers at most `left` levels deep.
bool within_depth(const value::variant_type& v, int left) {
  if (!holds_values(v))
    return true;
  if (left == 0)
    return false;
  auto ok = [&](const value& child) { return within_depth(child.variant(), left - 1); };
  if (auto l = std::get_if<list>(&v))
    return std::all_of(l->begin(), l->end(), ok);
  if (auto t = std::get_if<tuple>(&v))
    return std::all_of(t->items.begin(), t->items.end(), ok);
  if (auto d = std::get_if<dict>(&v))
    return std::all_of(d->items.begin(), d->items.end(),
                       [&](const auto& kv) { return ok(kv.first) && ok(kv.second); });
  auto g = std::get_if<tagged>(&v);
  return g == nullptr || g->payload == nullptr || ok(*g->payload);
}

} // namespace

value::~value() {
  if (!holds_values(v_) || plain_teardown > 0) // scalars first: no TLS lookup for them
    return;
  // A value of bounded depth (nearly all) is destroyed recursively, with no
  // allocation; deeper ones are taken apart below.
  if (within_depth(v_, plain_teardown_depth)) {
    ++plain_teardown;
    v_.emplace<none_t>();
    --plain_teardown;
    return;
  }
  // Takes nested containers out level by level, so no destructor descends
  // more than one level.
  std::vector<value> nested;
  detach_nested(v_, nested);
  while (!nested.empty()) {
    value x = std::move(nested.back());
    nested.pop_back();
    detach_nested(x.v_, nested);
  }
}

value::value(unsigned long x) {
  static_assert(sizeof(unsigned long) == 8, "pyactor needs an LP64 platform");
  if (x <= static_cast<unsigned long>(std::numeric_limits<int64_t>::max())) {
    v_ = static_cast<int64_t>(x);
    return;
  }
  big_integer big;
  big.be_twos_complement.push_back(0x00);
  for (int shift = 56; shift >= 0; shift -= 8)
    big.be_twos_complement.push_back(static_cast<uint8_t>((x >> shift) & 0xff));
  v_ = std::move(big);
}

std::string value::type_name() const {
  static const char* const names[] = {
    "NoneType", "bool", "int",  "int",   "float",  "str",        "bytes",
    "list",     "tuple", "dict", "atom", "tagged", "object_ref", "opaque",
  };
  static_assert(std::size(names) == std::variant_size_v<variant_type>);
  return names[v_.index()];
}

std::string value::to_string() const {
  std::string out;
  append_value(out, *this);
  return out;
}

} // namespace pyactor
