// pyactor::value: the one value model that crosses every boundary (design.md "Values").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace pyactor {

class value;

/// Python `None`.
struct none_t {
  friend bool operator==(none_t, none_t) { return true; }
};

/// An integer outside int64_t (Python ints have no size limit). Stored as
/// big-endian two's complement, the minimal number of bytes.
struct big_integer {
  std::vector<uint8_t> be_twos_complement;

  /// Returns the decimal text, e.g. "481229803398374426442198455156736".
  std::string to_string() const;

  /// Parses decimal text with an optional leading '-'; false on bad text.
  static bool from_string(const std::string& text, big_integer& out);

  friend bool operator==(const big_integer& a, const big_integer& b) {
    return a.be_twos_complement == b.be_twos_complement;
  }
};

/// Python `bytes` (and `bytearray`, which arrives as bytes).
struct bytes {
  std::vector<uint8_t> data;
  friend bool operator==(const bytes& a, const bytes& b) { return a.data == b.data; }
};

/// An Erlang atom / `pyactor.Atom` (a str subclass on the Python side).
struct atom {
  std::string name;
  friend bool operator==(const atom& a, const atom& b) { return a.name == b.name; }
};

using list = std::vector<value>;

/// Python `tuple`.
struct tuple {
  std::vector<value> items;
  friend bool operator==(const tuple& a, const tuple& b);
};

/// Python `dict`, in insertion order; keys may be any hashable value.
struct dict {
  std::vector<std::pair<value, value>> items;
  friend bool operator==(const dict& a, const dict& b);
};

/// A by-value type from the encoder registry, e.g. tag "date" with payload
/// the tuple (1923, 4, 2). The payload is immutable and shared on copy.
/// Make it with `make_tagged` (which allocates it as a non-const value: the
/// destructor of the last owner may then take its items apart in place, so
/// that destroying deep values never recurses).
struct tagged {
  std::string tag;
  std::shared_ptr<const value> payload;
  friend bool operator==(const tagged& a, const tagged& b);
};

/// A live Python object that stays in the worker that holds it.
/// `worker_uid` names one worker process incarnation: after a restart the
/// reference is stale.
struct object_ref {
  uint64_t worker_uid = 0;
  uint64_t object_id = 0;
  std::string type_name;
  friend bool operator==(const object_ref& a, const object_ref& b) {
    return a.worker_uid == b.worker_uid && a.object_id == b.object_id;
  }
};

/// A foreign value that passes through Python unchanged (an Erlang pid, ref
/// or fun): `kind` names it, `data` is its encoding.
struct opaque {
  std::string kind;
  std::vector<uint8_t> data;
  friend bool operator==(const opaque& a, const opaque& b) {
    return a.kind == b.kind && a.data == b.data;
  }
};

/// One Python value: None, bool, int (any size), float, str, bytes, list,
/// tuple, dict, atom, tagged by-value type, object reference or opaque.
class value {
public:
  using variant_type = std::variant<none_t, bool, int64_t, big_integer, double, std::string, bytes,
                                    list, tuple, dict, atom, tagged, object_ref, opaque>;

  // -- constructors ----------------------------------------------------------

  value() = default;
  /// Copies without recursion: a value nested 100,000 deep copies, compares,
  /// renders and destroys without deep recursion on the caller's stack.
  value(const value& other);
  value(value&& other) noexcept = default;
  value& operator=(const value& other);
  value& operator=(value&& other) noexcept = default;
  ~value();

  value(none_t) {}
  value(bool x) : v_(x) {}
  value(int x) : v_(int64_t{x}) {}
  value(long x) : v_(int64_t{x}) {}
  value(long long x) : v_(int64_t{x}) {}
  value(unsigned x) : v_(int64_t{x}) {}
  /// Values above INT64_MAX become a big_integer.
  value(unsigned long x);
  value(unsigned long long x) : value(static_cast<unsigned long>(x)) {}
  value(double x) : v_(x) {}
  value(const char* x) : v_(std::string{x}) {}
  value(std::string x) : v_(std::move(x)) {}
  value(big_integer x) : v_(std::move(x)) {}
  value(pyactor::bytes x) : v_(std::move(x)) {}
  value(pyactor::list x) : v_(std::move(x)) {}
  value(pyactor::tuple x) : v_(std::move(x)) {}
  value(pyactor::dict x) : v_(std::move(x)) {}
  value(pyactor::atom x) : v_(std::move(x)) {}
  value(pyactor::tagged x) : v_(std::move(x)) {}
  value(object_ref x) : v_(std::move(x)) {}
  value(pyactor::opaque x) : v_(std::move(x)) {}

  // -- observers -------------------------------------------------------------

  template <class T>
  bool is() const {
    return std::holds_alternative<T>(v_);
  }

  /// Returns the alternative `T`; throws std::bad_variant_access otherwise.
  template <class T>
  const T& as() const {
    return std::get<T>(v_);
  }

  template <class T>
  T& as() {
    return std::get<T>(v_);
  }

  /// Returns a pointer to the alternative `T`, or nullptr.
  template <class T>
  const T* get_if() const {
    return std::get_if<T>(&v_);
  }

  bool is_none() const { return is<none_t>(); }

  const variant_type& variant() const { return v_; }
  variant_type& variant() { return v_; }

  /// Returns the Python name of this value's type ("int", "str", "tuple", ...).
  std::string type_name() const;

  /// Returns a Python-like rendering: `None`, `True`, `'text'`, `b'\x00'`,
  /// `(1, 2)`, `{'a': 1}`, `:ok`, `#date(1923, 4, 2)`, `<list object #3 in worker 7>`.
  std::string to_string() const;

  /// Python's ==: dicts compare regardless of order.
  friend bool operator==(const value& a, const value& b);
  friend bool operator!=(const value& a, const value& b) { return !(a == b); }

private:
  variant_type v_;
};

/// Returns how deep `x` nests: 0 for a scalar, 1 for `[]` or `[1]`, 2 for
/// `[[1]]`; list, tuple, dict and tagged payload count (limits.hpp). Runs
/// without recursion.
size_t depth_of(const value& x);

// -- convenience constructors ---------------------------------------------------

/// Makes a tuple from its elements: `make_tuple(1, "a")`.
template <class... Ts>
value make_tuple(Ts&&... xs) {
  return tuple{std::vector<value>{value(std::forward<Ts>(xs))...}};
}

/// Makes a list from its elements: `make_list(1, 2, 3)`.
template <class... Ts>
value make_list(Ts&&... xs) {
  return list{value(std::forward<Ts>(xs))...};
}

/// Makes a tagged value: `make_tagged("date", make_tuple(1923, 4, 2))`.
inline value make_tagged(std::string tag, value payload) {
  return tagged{std::move(tag), std::make_shared<value>(std::move(payload))};
}

/// Makes a bytes value from text.
inline value make_bytes(const std::string& text) {
  return pyactor::bytes{std::vector<uint8_t>(text.begin(), text.end())};
}

} // namespace pyactor
