// format_erlang: a pyactor::value printed in Erlang syntax, as the term it encodes to.
#include "pyactor/codec/etf.hpp"

#include "etf_internal.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cmath>
#include <cstring>

namespace pyactor::codec {

using namespace etf_detail;

namespace {

bool is_reserved(const std::string& s) {
  static const char* words[] = {"after", "and",  "andalso", "band",    "begin", "bnot", "bor",
                                "bsl",   "bsr",  "bxor",    "case",    "catch", "cond", "div",
                                "end",   "fun",  "if",      "let",     "maybe", "not",  "of",
                                "or",    "orelse", "receive", "rem",   "try",   "when", "xor"};
  for (const char* w : words)
    if (s == w)
      return true;
  return false;
}

/// Decodes one code point of valid UTF-8 at `s[i]`, advancing `i`.
uint32_t next_code_point(const std::string& s, size_t& i) {
  auto c = static_cast<uint8_t>(s[i++]);
  if (c < 0x80)
    return c;
  int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
  uint32_t cp = c & (0x3f >> extra);
  for (int k = 0; k < extra && i < s.size(); ++k)
    cp = (cp << 6) | (static_cast<uint8_t>(s[i++]) & 0x3f);
  return cp;
}

/// Appends `cp` escaped for a quoted atom or string closed by `quote`.
void put_char(std::string& out, uint32_t cp, char quote, const std::string& src, size_t begin,
              size_t end) {
  switch (cp) {
    case '\n':
      out += "\\n";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\\':
      out += "\\\\";
      return;
    default:
      break;
  }
  if (cp == static_cast<uint32_t>(quote)) {
    out += '\\';
    out += quote;
  } else if (cp < 0x20 || cp == 0x7f) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(cp));
    out += buf;
  } else {
    out.append(src, begin, end - begin);
  }
}

std::string format_atom(const std::string& name) {
  bool plain = !name.empty() && name[0] >= 'a' && name[0] <= 'z' && !is_reserved(name);
  for (char c : name)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '@');
  if (plain)
    return name;
  std::string out = "'";
  for (size_t i = 0; i < name.size();) {
    size_t begin = i;
    uint32_t cp = next_code_point(name, i);
    put_char(out, cp, '\'', name, begin, i);
  }
  return out + "'";
}

std::string format_float(double d) {
  if (std::isnan(d) || std::isinf(d))
    return std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf"); // not encodable; shown anyway
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, res.ptr);
  std::string mantissa = s, exponent;
  if (auto e = s.find('e'); e != std::string::npos) {
    mantissa = s.substr(0, e);
    exponent = s.substr(e + 1);
    if (!exponent.empty() && exponent[0] == '+')
      exponent.erase(0, 1);
    bool negative = !exponent.empty() && exponent[0] == '-';
    size_t digits = negative ? 1 : 0;
    while (exponent.size() > digits + 1 && exponent[digits] == '0')
      exponent.erase(digits, 1);
  }
  if (mantissa.find('.') == std::string::npos)
    mantissa += ".0";
  return exponent.empty() ? mantissa : mantissa + "e" + exponent;
}

void format_binary(std::string& out, const uint8_t* p, size_t n) {
  bool text = utf8_length(p, n) >= 0;
  bool ascii = true;
  std::string s(reinterpret_cast<const char*>(p), n);
  for (size_t i = 0; text && i < n;) {
    uint32_t cp = next_code_point(s, i);
    ascii = ascii && cp < 0x80;
    text = (cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0)) || cp == '\n' || cp == '\t'
           || cp == '\r';
  }
  out += "<<";
  if (text && n > 0) {
    out += '"';
    for (size_t i = 0; i < n;) {
      size_t begin = i;
      uint32_t cp = next_code_point(s, i);
      put_char(out, cp, '"', s, begin, i);
    }
    out += ascii ? "\"" : "\"/utf8";
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (i > 0)
        out += ',';
      out += std::to_string(p[i]);
    }
  }
  out += ">>";
}

/// Reads canonical opaque data (already checked by `canonical_opaque`).
struct reader {
  const uint8_t* p;
  uint8_t u8() { return *p++; }
  uint32_t u32() {
    uint32_t x = get_u32(p);
    p += 4;
    return x;
  }
  std::string atom() {
    size_t n = u8() == small_atom_utf8_ext ? u8() : (size_t{u8()} << 8) | u8();
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    return format_atom(s);
  }
  int64_t small_int() {
    return u8() == small_integer_ext ? u8() : static_cast<int32_t>(u32());
  }
};

class printer {
public:
  std::string out;

  void print(const value& x, size_t depth) {
    if (depth > etf_limits{}.max_depth) {
      out += "...";
      return;
    }
    std::visit([&](const auto& v) { put(v, depth); }, x.variant());
  }

private:
  void put(none_t, size_t) { out += "undefined"; }
  void put(bool x, size_t) { out += x ? "true" : "false"; }
  void put(int64_t x, size_t) { out += std::to_string(x); }
  void put(const big_integer& x, size_t) { out += x.to_string(); }
  void put(double x, size_t) { out += format_float(x); }
  void put(const std::string& x, size_t) {
    format_binary(out, reinterpret_cast<const uint8_t*>(x.data()), x.size());
  }
  void put(const bytes& x, size_t) { format_binary(out, x.data.data(), x.data.size()); }
  void put(const atom& x, size_t) { out += format_atom(x.name); }

  void items(const std::vector<value>& xs, size_t depth) {
    for (size_t i = 0; i < xs.size(); ++i) {
      if (i > 0)
        out += ',';
      print(xs[i], depth + 1);
    }
  }

  void put(const list& xs, size_t depth) {
    out += '[';
    items(xs, depth);
    out += ']';
  }

  void put(const tuple& x, size_t depth) {
    out += '{';
    items(x.items, depth);
    out += '}';
  }

  void put(const dict& x, size_t depth) {
    out += "#{";
    for (size_t i = 0; i < x.items.size(); ++i) {
      if (i > 0)
        out += ',';
      print(x.items[i].first, depth + 1);
      out += " => ";
      print(x.items[i].second, depth + 1);
    }
    out += '}';
  }

  void put(const tagged& x, size_t depth) {
    out += '{';
    put(x.tag, depth);
    out += ',';
    if (x.payload)
      print(*x.payload, depth + 1);
    else
      out += "undefined";
    out += '}';
  }

  void put(const object_ref& x, size_t depth) {
    out += "{" + format_atom(etf_objref_atom) + "," + std::to_string(x.worker_uid) + ","
           + std::to_string(x.object_id) + ",";
    put(x.type_name, depth);
    out += '}';
  }

  void put(const opaque& x, size_t depth) {
    auto data = canonical_opaque(x, etf_limits{});
    if (!data) {
      out += "#Opaque<" + format_atom(x.kind) + ">";
      return;
    }
    reader r{data->data()};
    uint8_t t = r.u8();
    switch (t) {
      case new_pid_ext: {
        std::string node = r.atom();
        uint32_t id = r.u32();
        uint32_t serial = r.u32();
        out += "#Pid<" + node + "." + std::to_string(id) + "." + std::to_string(serial) + ">";
        return;
      }
      case new_port_ext:
      case v4_port_ext: {
        std::string node = r.atom();
        uint64_t id = r.u32();
        if (t == v4_port_ext)
          id = (id << 32) | r.u32();
        out += "#Port<" + node + "." + std::to_string(id) + ">";
        return;
      }
      case newer_reference_ext: {
        size_t words = (size_t{r.u8()} << 8) | r.u8();
        out += "#Ref<" + r.atom();
        r.u32(); // creation
        for (size_t i = 0; i < words; ++i)
          out += "." + std::to_string(r.u32());
        out += ">";
        return;
      }
      case export_fun_ext: {
        std::string m = r.atom();
        std::string f = r.atom();
        out += "fun " + m + ":" + f + "/" + std::to_string(r.small_int());
        return;
      }
      case new_fun_ext: {
        r.p += 4 + 1 + 16;
        uint32_t index = r.u32();
        r.u32(); // free count
        std::string m = r.atom();
        r.small_int(); // old index
        out += "#Fun<" + m + "." + std::to_string(index) + "." + std::to_string(r.small_int())
               + ">";
        return;
      }
      case bit_binary_ext: {
        uint32_t n = r.u32();
        int bits = r.u8();
        out += "<<";
        for (uint32_t i = 0; i + 1 < n; ++i)
          out += std::to_string(r.u8()) + ",";
        out += std::to_string(r.u8() >> (8 - bits)) + ":" + std::to_string(bits) + ">>";
        return;
      }
      default: { // improper list: [e1,...,en|tail]
        auto parts = decode_sequence(data->data() + 5, data->size() - 5,
                                     etf_options{etf_limits{}, etf_mapping::exact, {}});
        if (!parts || parts->size() < 2) {
          out += "#Opaque<" + format_atom(x.kind) + ">";
          return;
        }
        out += '[';
        for (size_t i = 0; i + 1 < parts->size(); ++i) {
          if (i > 0)
            out += ',';
          print((*parts)[i], depth + 1);
        }
        out += '|';
        print(parts->back(), depth + 1);
        out += ']';
      }
    }
  }
};

} // namespace

std::string format_erlang(const value& x) {
  printer p;
  p.print(x, 0);
  return std::move(p.out);
}

} // namespace pyactor::codec
