// Parses request terms into bridge_request (see request.hpp for the forms).
#include "pyactor/erlbridge/request.hpp"

#include <limits>
#include <optional>


namespace pyactor::erlbridge {

namespace {

constexpr const char* unknown_call_text = "unknown_call";

error bad(const std::string& what, const value& got) {
  auto text = got.to_string();
  if (text.size() > 200)
    text = text.substr(0, 197) + "...";
  return make_error(errc::bad_request, what + ", got " + text);
}

/// An atom or a binary (UTF-8, so it arrived as str) as a name.
bool read_name(const value& v, std::string& out) {
  if (auto a = v.get_if<atom>())
    out = a->name;
  else if (auto s = v.get_if<std::string>())
    out = *s;
  else
    return false;
  return !out.empty();
}

std::optional<error> read_args(value& v, const char* what, list& out) {
  auto l = v.get_if<list>();
  if (l == nullptr)
    return bad(std::string{what} + " must be a list of arguments", v);
  out = std::move(v.as<list>());
  return std::nullopt;
}

/// Keyword arguments: a map or a proplist with atom or binary keys.
std::optional<error> read_kwargs(value& v, dict& out) {
  auto add = [&](const value& k, value& x) -> std::optional<error> {
    std::string name;
    if (!read_name(k, name))
      return bad("a keyword argument name must be an atom or a binary", k);
    out.items.emplace_back(value{name}, std::move(x));
    return std::nullopt;
  };
  if (v.is<dict>()) {
    for (auto& [k, x] : v.as<dict>().items)
      if (auto e = add(k, x))
        return e;
    return std::nullopt;
  }
  if (v.is<list>()) {
    for (auto& item : v.as<list>()) {
      auto t = item.get_if<tuple>();
      if (t == nullptr || t->items.size() != 2)
        return bad("keyword arguments must be {Name, Value} pairs", item);
      if (auto e = add(t->items[0], item.as<tuple>().items[1]))
        return e;
    }
    return std::nullopt;
  }
  return bad("keyword arguments must be a map or a proplist", v);
}

std::optional<error> read_option(const std::string& key, const value& x, call_options& opts) {
  if (key == "timeout") {
    if (auto a = x.get_if<atom>(); a != nullptr && a->name == "infinity") {
      opts.timeout = std::chrono::hours(24 * 365);
      return std::nullopt;
    }
    auto i = x.get_if<int64_t>();
    if (i == nullptr || *i <= 0)
      return bad("option timeout must be a positive integer (milliseconds) or infinity", x);
    opts.timeout = std::chrono::milliseconds(*i);
  } else if (key == "worker") {
    auto i = x.get_if<int64_t>();
    if (i == nullptr || *i < 0)
      return bad("option worker must be a worker id (a non-negative integer)", x);
    opts.worker = static_cast<uint64_t>(*i);
  } else if (key == "by_ref") {
    auto b = x.get_if<bool>();
    if (b == nullptr)
      return bad("option by_ref must be true or false", x);
    opts.by_ref = *b;
  }
  // Other keys belong to the Erlang client (e.g. the gen_server timeout margin).
  return std::nullopt;
}

std::optional<error> read_opts(const value& v, call_options& opts) {
  if (auto d = v.get_if<dict>()) {
    for (auto& [k, x] : d->items) {
      std::string key;
      if (!read_name(k, key))
        return bad("an option name must be an atom", k);
      if (auto e = read_option(key, x, opts))
        return e;
    }
    return std::nullopt;
  }
  if (auto l = v.get_if<list>()) {
    for (auto& item : *l) {
      auto t = item.get_if<tuple>();
      std::string key;
      if (t == nullptr || t->items.size() != 2 || !read_name(t->items[0], key))
        return bad("options must be {Name, Value} pairs", item);
      if (auto e = read_option(key, t->items[1], opts))
        return e;
    }
    return std::nullopt;
  }
  return bad("options must be a map or a proplist", v);
}

/// Reads `{_, Name|Module, ...}` element `i` as a name.
std::optional<error> name_at(const std::vector<value>& xs, size_t i, const char* what,
                             std::string& out) {
  if (!read_name(xs[i], out))
    return bad(std::string{what} + " must be an atom or a UTF-8 binary", xs[i]);
  return std::nullopt;
}

#define PYACTOR_TRY(expr)                                                                          \
  if (auto e_ = (expr))                                                                            \
    return *e_;

result<bridge_request> parse_tuple(const std::string& op, std::vector<value>& xs) {
  bridge_request r;
  auto n = xs.size();
  if ((op == "func" || op == "init" || op == "broadcast") && n == 6) {
    r.kind = op == "func" ? request_kind::func
                          : op == "init" ? request_kind::init : request_kind::broadcast;
    PYACTOR_TRY(name_at(xs, 1, "the module", r.module));
    PYACTOR_TRY(name_at(xs, 2, "the function name", r.name));
    PYACTOR_TRY(read_args(xs[3], "the arguments", r.args));
    PYACTOR_TRY(read_kwargs(xs[4], r.kwargs));
    PYACTOR_TRY(read_opts(xs[5], r.opts));
    return r;
  }
  if (op == "const" && n == 5) {
    r.kind = request_kind::constant;
    PYACTOR_TRY(name_at(xs, 1, "the module", r.module));
    PYACTOR_TRY(name_at(xs, 2, "the constant name", r.name));
    if (xs[3].is_none()) {
      r.cast.clear();
    } else if (!read_name(xs[3], r.cast)
               || (r.cast != "int" && r.cast != "float" && r.cast != "str")) {
      return bad("the cast must be int, float, str or undefined", xs[3]);
    }
    PYACTOR_TRY(read_opts(xs[4], r.opts));
    return r;
  }
  if (op == "method" && n == 6) {
    r.kind = request_kind::method;
    r.target = std::move(xs[1]);
    PYACTOR_TRY(name_at(xs, 2, "the method name", r.name));
    PYACTOR_TRY(read_args(xs[3], "the arguments", r.args));
    PYACTOR_TRY(read_kwargs(xs[4], r.kwargs));
    PYACTOR_TRY(read_opts(xs[5], r.opts));
    return r;
  }
  if (op == "attr" && n == 4) {
    r.kind = request_kind::attr;
    r.target = std::move(xs[1]);
    PYACTOR_TRY(name_at(xs, 2, "the attribute name", r.name));
    PYACTOR_TRY(read_opts(xs[3], r.opts));
    return r;
  }
  if (op == "builtin" && n == 5) {
    r.kind = request_kind::builtin;
    PYACTOR_TRY(name_at(xs, 1, "the builtin name", r.name));
    PYACTOR_TRY(read_args(xs[2], "the arguments", r.args));
    PYACTOR_TRY(read_kwargs(xs[3], r.kwargs));
    PYACTOR_TRY(read_opts(xs[4], r.opts));
    return r;
  }
  if (op == "op" && n == 4) {
    r.kind = request_kind::op;
    PYACTOR_TRY(name_at(xs, 1, "the operator name", r.name));
    PYACTOR_TRY(read_args(xs[2], "the operands", r.args));
    PYACTOR_TRY(read_opts(xs[3], r.opts));
    return r;
  }
  if ((op == "eval" || op == "exec") && n == (op == "eval" ? 4u : 3u)) {
    r.kind = op == "eval" ? request_kind::eval : request_kind::exec;
    std::string code;
    if (!read_name(xs[1], code))
      return bad("the code must be a UTF-8 binary", xs[1]);
    r.name = code;
    if (op == "eval") {
      PYACTOR_TRY(read_kwargs(xs[2], r.kwargs));
    }
    PYACTOR_TRY(read_opts(xs[n - 1], r.opts));
    return r;
  }
  if (op == "versions" && n == 2) {
    r.kind = request_kind::versions;
    PYACTOR_TRY(read_opts(xs[1], r.opts));
    return r;
  }
  if (op == "release" && n == 2) {
    r.kind = request_kind::release;
    r.target = std::move(xs[1]);
    if (!r.target.is<object_ref>())
      return bad("release takes an object reference", xs[1]);
    return r;
  }
  if (op == "starmap" && n == 5) {
    r.kind = request_kind::starmap;
    PYACTOR_TRY(name_at(xs, 1, "the module", r.module));
    PYACTOR_TRY(name_at(xs, 2, "the function name", r.name));
    if (!xs[3].is<list>())
      return bad("starmap items must be a list of argument lists", xs[3]);
    auto& items = xs[3].as<list>();
    r.items.reserve(items.size());
    for (auto& item : items) {
      list args;
      PYACTOR_TRY(read_args(item, "each starmap item", args));
      r.items.push_back(std::move(args));
    }
    PYACTOR_TRY(read_opts(xs[4], r.opts));
    return r;
  }
  if (op == "batch" && n == 3) {
    r.kind = request_kind::batch;
    if (!xs[1].is<list>())
      return bad("batch takes a list of {Module, Function, Args, Kwargs}", xs[1]);
    for (auto& c : xs[1].as<list>()) {
      auto t = c.get_if<tuple>();
      if (t == nullptr || t->items.size() != 4)
        return bad("each batch call must be {Module, Function, Args, Kwargs}", c);
      auto& items = c.as<tuple>().items;
      batch_call bc;
      PYACTOR_TRY(name_at(items, 0, "the module", bc.module));
      PYACTOR_TRY(name_at(items, 1, "the function name", bc.function));
      PYACTOR_TRY(read_args(items[2], "the arguments", bc.args));
      PYACTOR_TRY(read_kwargs(items[3], bc.kwargs));
      r.calls.push_back(std::move(bc));
    }
    PYACTOR_TRY(read_opts(xs[2], r.opts));
    return r;
  }
  if (op == "add_workers" && n == 2) {
    r.kind = request_kind::add_workers;
    auto i = xs[1].get_if<int64_t>();
    if (i == nullptr || *i < 1 || *i > 1024)
      return bad("add_workers takes a count from 1 to 1024", xs[1]);
    r.count = static_cast<uint32_t>(*i);
    return r;
  }
  return make_error(errc::bad_request, unknown_call_text);
}

#undef PYACTOR_TRY

} // namespace

const char* to_string(request_kind x) {
  switch (x) {
    case request_kind::func: return "func";
    case request_kind::init: return "init";
    case request_kind::constant: return "const";
    case request_kind::method: return "method";
    case request_kind::attr: return "attr";
    case request_kind::builtin: return "builtin";
    case request_kind::op: return "op";
    case request_kind::eval: return "eval";
    case request_kind::exec: return "exec";
    case request_kind::versions: return "versions";
    case request_kind::release: return "release";
    case request_kind::broadcast: return "broadcast";
    case request_kind::starmap: return "starmap";
    case request_kind::batch: return "batch";
    case request_kind::status: return "status";
    case request_kind::workers: return "workers";
    case request_kind::add_workers: return "add_workers";
    case request_kind::ping: return "ping";
  }
  return "?";
}

result<bridge_request> parse_request(value term) {
  if (auto a = term.get_if<atom>()) {
    bridge_request r;
    if (a->name == "status")
      r.kind = request_kind::status;
    else if (a->name == "workers")
      r.kind = request_kind::workers;
    else if (a->name == "ping")
      r.kind = request_kind::ping;
    else
      return make_error(errc::bad_request, unknown_call_text);
    return r;
  }
  auto t = term.get_if<tuple>();
  if (t == nullptr || t->items.empty() || !t->items[0].is<atom>())
    return make_error(errc::bad_request, unknown_call_text);
  auto op = t->items[0].as<atom>().name;
  return parse_tuple(op, term.as<tuple>().items);
}

bool is_unknown_call(const error& e) {
  return e.code == errc::bad_request && e.message == unknown_call_text;
}

} // namespace pyactor::erlbridge
