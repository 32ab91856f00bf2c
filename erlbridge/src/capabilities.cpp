#include "capabilities.hpp"

namespace pyactor::erlbridge::detail {

bool is_capabilities_query(const value& request) {
  auto a = request.get_if<atom>();
  return a != nullptr && a->name == "capabilities";
}

value capabilities_reply() {
  return tuple{{atom{"ok"}, value{list{value{atom{"batch"}}, value{atom{"cancel"}}}}}};
}

} // namespace pyactor::erlbridge::detail
