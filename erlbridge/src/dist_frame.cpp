#include "pyactor/erlbridge/dist_frame.hpp"

#include "header_reader.hpp"

namespace pyactor::erlbridge {

namespace {

constexpr uint8_t version_byte = 131;
constexpr uint8_t pass_through = 112;

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

uint32_t be16(const uint8_t* p) {
  return (uint32_t{p[0]} << 8) | p[1];
}

void put32(std::vector<uint8_t>& out, uint32_t x) {
  out.push_back(static_cast<uint8_t>(x >> 24));
  out.push_back(static_cast<uint8_t>(x >> 16));
  out.push_back(static_cast<uint8_t>(x >> 8));
  out.push_back(static_cast<uint8_t>(x));
}

void put_atom(std::vector<uint8_t>& out, const std::string& name) {
  if (name.size() < 256) {
    out.push_back(119); // SMALL_ATOM_UTF8_EXT
    out.push_back(static_cast<uint8_t>(name.size()));
  } else {
    out.push_back(118); // ATOM_UTF8_EXT
    out.push_back(static_cast<uint8_t>(name.size() >> 8));
    out.push_back(static_cast<uint8_t>(name.size()));
  }
  out.insert(out.end(), name.begin(), name.end());
}

/// Reads an atom at `at`; returns the offset after it (0 if not an atom).
size_t read_atom(const uint8_t* d, size_t n, size_t at, std::string* text) {
  return detail::header_reader{d, n}.skip_atom(at, text);
}

bool is_pid(const uint8_t* d, size_t n, byte_span s) {
  return s.size > 0 && s.at < n && (d[s.at] == 88 || d[s.at] == 103);
}

} // namespace

size_t skip_term(const uint8_t* d, size_t n, size_t at) {
  // Terms still to skip; containers add their elements. Each element is at
  // least one byte, so a count above the bytes left is malformed at once.
  size_t pending = 1;
  while (pending > 0) {
    --pending;
    if (at >= n)
      return 0;
    auto left = n - at; // bytes from the tag on
    auto need = [&](size_t k) { return k <= left; };
    size_t len = 0;
    switch (d[at]) {
      case 97: len = 2; break;                    // SMALL_INTEGER
      case 98: len = 5; break;                    // INTEGER
      case 99: len = 32; break;                   // FLOAT (old)
      case 70: len = 9; break;                    // NEW_FLOAT
      case 106: len = 1; break;                   // NIL
      case 119: case 115:                         // small atoms
        if (!need(2))
          return 0;
        len = 2 + size_t{d[at + 1]};
        break;
      case 118: case 100:                         // atoms
        if (!need(3))
          return 0;
        len = 3 + be16(d + at + 1);
        break;
      case 107:                                   // STRING
        if (!need(3))
          return 0;
        len = 3 + be16(d + at + 1);
        break;
      case 109:                                   // BINARY
        if (!need(5))
          return 0;
        len = 5 + size_t{be32(d + at + 1)};
        break;
      case 77:                                    // BIT_BINARY
        if (!need(6))
          return 0;
        len = 6 + size_t{be32(d + at + 1)};
        break;
      case 110:                                   // SMALL_BIG
        if (!need(2))
          return 0;
        len = 3 + size_t{d[at + 1]};
        break;
      case 111:                                   // LARGE_BIG
        if (!need(5))
          return 0;
        len = 6 + size_t{be32(d + at + 1)};
        break;
      case 112:                                   // NEW_FUN: Size counts itself
        if (!need(5))
          return 0;
        len = 1 + size_t{be32(d + at + 1)};
        if (len < 5)
          return 0;
        break;
      case 104:                                   // SMALL_TUPLE
        if (!need(2))
          return 0;
        pending += d[at + 1];
        len = 2;
        break;
      case 105:                                   // LARGE_TUPLE
      case 108:                                   // LIST (then its tail)
      case 116: {                                 // MAP (keys and values)
        if (!need(5))
          return 0;
        size_t k = be32(d + at + 1);
        if (d[at] == 108)
          k += 1;
        else if (d[at] == 116)
          k *= 2;
        if (k > left)
          return 0;
        pending += k;
        len = 5;
        break;
      }
      case 113:                                   // EXPORT: module, function, arity
        pending += 3;
        len = 1;
        break;
      case 88: case 103: case 89: case 102: case 120: // pids and ports: node, then words
      case 90: case 114: case 101: {                  // refs
        size_t head = 1;
        size_t words = 0;
        if (d[at] == 90 || d[at] == 114) {
          if (!need(3))
            return 0;
          words = be16(d + at + 1);
          if (words > 5)
            return 0;
          head = 3;
        }
        auto end = read_atom(d, n, at + head, nullptr);
        if (end == 0)
          return 0;
        size_t tail = 0;
        switch (d[at]) {
          case 88: tail = 12; break;              // NEW_PID: id, serial, creation
          case 103: tail = 9; break;              // PID: id, serial, creation:8
          case 89: tail = 8; break;               // NEW_PORT
          case 102: tail = 5; break;              // PORT
          case 120: tail = 12; break;             // V4_PORT
          case 90: tail = 4 + 4 * words; break;   // NEWER_REFERENCE
          case 114: tail = 1 + 4 * words; break;  // NEW_REFERENCE
          case 101: tail = 5; break;              // REFERENCE
        }
        if (tail > n - end)
          return 0;
        at = end + tail;
        continue;
      }
      default:
        return 0;
    }
    if (len > left)
      return 0;
    at += len;
  }
  return at;
}

bool parse_dist_frame(const uint8_t* d, size_t n, dist_control& out, std::string& problem) {
  out = dist_control{};
  if (n < 2 || d[0] != pass_through) {
    problem = n == 0 ? "an empty frame" : "frame type " + std::to_string(n ? d[0] : 0)
                                            + " (expected 112, pass-through)";
    return false;
  }
  if (d[1] != version_byte) {
    problem = "the control message has no version byte";
    return false;
  }
  size_t at = 2;
  size_t arity = 0;
  if (at + 2 <= n && d[at] == 104) {
    arity = d[at + 1];
    at += 2;
  } else if (at + 5 <= n && d[at] == 105) {
    arity = be32(d + at + 1);
    at += 5;
  } else {
    problem = "the control message is not a tuple";
    return false;
  }
  if (arity < 1 || arity > 16) {
    problem = "a control tuple of arity " + std::to_string(arity);
    return false;
  }
  // The elements: their spans, the op first (a small integer).
  byte_span elem[16];
  for (size_t i = 0; i < arity; ++i) {
    auto end = skip_term(d, n, at);
    if (end == 0) {
      problem = "control element " + std::to_string(i + 1) + " is malformed";
      return false;
    }
    elem[i] = {at, end - at};
    at = end;
  }
  if (elem[0].size != 2 || d[elem[0].at] != 97) {
    problem = "the control operation is not a small integer";
    return false;
  }
  out.op = d[elem[0].at + 1];
  if (at < n) {
    if (d[at] != version_byte) {
      problem = "the message after the control has no version byte";
      return false;
    }
    out.payload = at;
  }
  auto want = [&](size_t min_arity) {
    if (arity >= min_arity)
      return true;
    problem = "operation " + std::to_string(out.op) + " with arity " + std::to_string(arity);
    return false;
  };
  switch (out.op) {
    case dop::reg_send:
    case dop::reg_send_tt:
      if (!want(4))
        return false;
      out.from = elem[1];
      if (read_atom(d, n, elem[3].at, &out.to_name) == 0 || !is_pid(d, n, out.from)) {
        problem = "REG_SEND without a sender pid and a name";
        return false;
      }
      break;
    case dop::send:
    case dop::send_tt:
      if (!want(3))
        return false;
      out.to = elem[2];
      break;
    case dop::send_sender:
    case dop::send_sender_tt:
    case dop::alias_send:
    case dop::alias_send_tt:
      if (!want(3))
        return false;
      out.from = elem[1];
      out.to = elem[2];
      break;
    case dop::monitor_p:
    case dop::demonitor_p:
    case dop::monitor_p_exit:
    case dop::payload_monitor_p_exit:
      if (!want(4))
        return false;
      out.from = elem[1];
      out.to = elem[2];
      out.ref = elem[3];
      break;
    default:
      break;
  }
  if ((out.op == dop::reg_send || out.op == dop::reg_send_tt || out.op == dop::send
       || out.op == dop::send_tt)
      && out.payload == 0) {
    problem = "a send without a message";
    return false;
  }
  return true;
}

std::vector<uint8_t> encode_own_pid(const dist_identity& self, uint32_t num) {
  std::vector<uint8_t> out{88};
  put_atom(out, self.node);
  put32(out, num);
  put32(out, 0);
  put32(out, self.creation);
  return out;
}

std::vector<uint8_t> encode_own_ref(const dist_identity& self, uint64_t id) {
  std::vector<uint8_t> out{90, 0, 3};
  put_atom(out, self.node);
  put32(out, self.creation);
  // The first word of a ref is 18 bits on the Erlang side.
  put32(out, static_cast<uint32_t>(id & 0x3ffff));
  put32(out, static_cast<uint32_t>(id >> 18));
  put32(out, static_cast<uint32_t>(id >> 50));
  return out;
}

bool parse_own_ref(const uint8_t* d, size_t n, const dist_identity& self, uint64_t& id) {
  if (n < 3 || d[0] != 90 || be16(d + 1) != 3)
    return false;
  std::string node;
  auto end = read_atom(d, n, 3, &node);
  if (end == 0 || node != self.node || n - end != 16 || be32(d + end) != self.creation)
    return false;
  id = uint64_t{be32(d + end + 4)} | (uint64_t{be32(d + end + 8)} << 18)
       | (uint64_t{be32(d + end + 12)} << 50);
  return true;
}

void append_send_head(std::vector<uint8_t>& out, const uint8_t* to, size_t to_size,
                      size_t message_size) {
  // 112, 131, {2, '', To}
  const size_t control = 1 + 1 + 2 + 2 + 2 + to_size;
  put32(out, static_cast<uint32_t>(control + message_size));
  const uint8_t head[] = {pass_through, version_byte, 104, 3, 97, dop::send, 119, 0};
  out.insert(out.end(), head, head + sizeof(head));
  out.insert(out.end(), to, to + to_size);
}

void append_monitor_frame(std::vector<uint8_t>& out, int op, const std::vector<uint8_t>& watcher,
                          const uint8_t* watched, size_t watched_size,
                          const std::vector<uint8_t>& ref) {
  put32(out, static_cast<uint32_t>(1 + 1 + 2 + 2 + watcher.size() + watched_size + ref.size()));
  const uint8_t head[] = {pass_through, version_byte, 104, 4, 97, static_cast<uint8_t>(op)};
  out.insert(out.end(), head, head + sizeof(head));
  out.insert(out.end(), watcher.begin(), watcher.end());
  out.insert(out.end(), watched, watched + watched_size);
  out.insert(out.end(), ref.begin(), ref.end());
}

} // namespace pyactor::erlbridge
