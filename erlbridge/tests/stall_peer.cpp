// An adversarial peer for the gateway (test program, ctest erlbridge.stall):
// two C-nodes connect to a running gateway. A stalls on purpose while B keeps
// calling, and B must be served meanwhile:
//   1. A sends the first half of a 1 MiB call frame and stops writing; B makes
//      20 calls; then A sends the rest and gets its answer.
//   2. A asks for four 8 MiB results and does not read; B makes 20 calls;
//      then A reads all four replies.
// Exit 0 if every call got its right answer, 1 (with the reason) otherwise.
//   pyactor-erlbridge-stall-peer GATEWAY_NODE COOKIE
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <unistd.h>

#include <ei.h>

namespace {

constexpr unsigned tmo_ms = 120000; // a hang guard only, never a measurement

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "stall_peer: FAIL: %s (erl_errno %d)\n", what.c_str(), erl_errno);
  std::exit(1);
}

struct peer {
  ei_cnode ec{};
  int fd = -1;
  unsigned next_ref = 1;
};

void connect_peer(peer& p, const std::string& alive, const std::string& gateway,
                  const std::string& cookie) {
  auto at = gateway.find('@');
  if (at == std::string::npos)
    fail("gateway node name without @: " + gateway);
  auto host = gateway.substr(at + 1);
  auto node = alive + "@" + host;
  auto creation = static_cast<unsigned>(std::time(nullptr)) | 4u;
  if (ei_connect_xinit(&p.ec, host.c_str(), alive.c_str(), node.c_str(), nullptr, cookie.c_str(),
                       creation)
      < 0)
    fail("ei_connect_xinit " + node);
  p.fd = ei_connect_tmo(&p.ec, const_cast<char*>(gateway.c_str()), tmo_ms);
  if (p.fd < 0)
    fail("cannot connect " + node + " to " + gateway);
}

/// {'$gen_call', {Self, Ref}, Req} with Req = {func, Mod, Fun, Args, [], #{}};
/// `args` writes the argument list.
template <class Args>
ei_x_buff gen_call(peer& p, const char* mod, const char* fun, Args args) {
  ei_x_buff x;
  ei_x_new_with_version(&x);
  ei_x_encode_tuple_header(&x, 3);
  ei_x_encode_atom(&x, "$gen_call");
  ei_x_encode_tuple_header(&x, 2);
  ei_x_encode_pid(&x, ei_self(&p.ec));
  erlang_ref ref{};
  std::snprintf(ref.node, sizeof(ref.node), "%s", ei_thisnodename(&p.ec));
  ref.len = 3;
  ref.n[0] = p.next_ref++;
  ref.creation = ei_self(&p.ec)->creation;
  ei_x_encode_ref(&x, &ref);
  ei_x_encode_tuple_header(&x, 6);
  ei_x_encode_atom(&x, "func");
  ei_x_encode_atom(&x, mod);
  ei_x_encode_atom(&x, fun);
  args(x);
  ei_x_encode_empty_list(&x);
  ei_x_encode_map_header(&x, 0);
  return x;
}

/// Waits for the next message sent to our pid; returns its buffer.
ei_x_buff receive_reply(peer& p, const std::string& what) {
  ei_x_buff x;
  ei_x_new(&x);
  for (;;) {
    erlang_msg msg{};
    x.index = 0;
    auto rc = ei_xreceive_msg_tmo(p.fd, &msg, &x, tmo_ms);
    if (rc == ERL_TICK)
      continue;
    if (rc != ERL_MSG)
      fail("no reply to " + what);
    if (msg.msgtype == ERL_SEND)
      return x;
    // monitors of our pid (the gateway watches its callers): nothing to do
  }
}

/// Reads {Ref, {ok, Value}} up to Value; returns the index of Value.
int open_ok_reply(ei_x_buff& x, const std::string& what) {
  int i = 0;
  int version = 0;
  int arity = 0;
  char a[MAXATOMLEN] = {0};
  if (ei_decode_version(x.buff, &i, &version) < 0 || ei_decode_tuple_header(x.buff, &i, &arity) < 0
      || arity != 2 || ei_skip_term(x.buff, &i) < 0
      || ei_decode_tuple_header(x.buff, &i, &arity) < 0 || arity != 2
      || ei_decode_atom(x.buff, &i, a) < 0 || std::strcmp(a, "ok") != 0)
    fail("the reply to " + what + " is not {Ref, {ok, _}}");
  return i;
}

void add_calls(peer& b, int n) {
  for (int k = 0; k < n; ++k) {
    auto x = gen_call(b, "operator", "add", [k](ei_x_buff& y) {
      ei_x_encode_list_header(&y, 2);
      ei_x_encode_long(&y, k);
      ei_x_encode_long(&y, 1);
      ei_x_encode_empty_list(&y);
    });
    if (ei_reg_send_tmo(&b.ec, b.fd, const_cast<char*>("py"), x.buff, x.index, tmo_ms) < 0)
      fail("B cannot send call " + std::to_string(k));
    ei_x_free(&x);
    auto r = receive_reply(b, "B's call");
    auto i = open_ok_reply(r, "B's call");
    long v = 0;
    if (ei_decode_long(r.buff, &i, &v) < 0 || v != k + 1)
      fail("B's call " + std::to_string(k) + " gave a wrong result");
    ei_x_free(&r);
  }
}

void write_all(int fd, const char* d, size_t n) {
  while (n > 0) {
    auto w = ::write(fd, d, n);
    if (w <= 0)
      fail("cannot write to the gateway");
    d += w;
    n -= static_cast<size_t>(w);
  }
}

/// A REG_SEND frame to `py` carrying `msg`, as bytes (length included).
std::vector<char> reg_send_frame(peer& a, const ei_x_buff& msg) {
  ei_x_buff c;
  ei_x_new_with_version(&c);
  ei_x_encode_tuple_header(&c, 4);
  ei_x_encode_long(&c, 6);
  ei_x_encode_pid(&c, ei_self(&a.ec));
  ei_x_encode_atom(&c, "");
  ei_x_encode_atom(&c, "py");
  uint32_t len = static_cast<uint32_t>(1 + c.index + msg.index);
  std::vector<char> f = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                         static_cast<char>(len >> 8), static_cast<char>(len), 'p'};
  f.insert(f.end(), c.buff, c.buff + c.index);
  f.insert(f.end(), msg.buff, msg.buff + msg.index);
  ei_x_free(&c);
  return f;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s GATEWAY_NODE COOKIE\n", argv[0]);
    return 2;
  }
  std::string gateway = argv[1];
  std::string cookie = argv[2];
  auto tag = std::to_string(getpid());
  ei_init();
  peer a;
  peer b;
  connect_peer(a, "stall_a_" + tag, gateway, cookie);
  connect_peer(b, "stall_b_" + tag, gateway, cookie);

  // 1. A stalls in the middle of a frame.
  std::vector<char> mib(1 << 20, 'x');
  auto call = gen_call(a, "builtins", "len", [&](ei_x_buff& y) {
    ei_x_encode_list_header(&y, 1);
    ei_x_encode_tuple_header(&y, 2);
    ei_x_encode_atom(&y, "bytes");
    ei_x_encode_binary(&y, mib.data(), static_cast<long>(mib.size()));
    ei_x_encode_empty_list(&y);
  });
  auto frame = reg_send_frame(a, call);
  ei_x_free(&call);
  auto half = frame.size() / 2;
  write_all(a.fd, frame.data(), half);
  add_calls(b, 20);
  std::printf("stall_peer: 20 calls served while another peer stalled mid-frame\n");
  write_all(a.fd, frame.data() + half, frame.size() - half);
  auto r = receive_reply(a, "A's 1 MiB call");
  auto i = open_ok_reply(r, "A's 1 MiB call");
  long n = 0;
  if (ei_decode_long(r.buff, &i, &n) < 0 || n != 1 << 20)
    fail("A's 1 MiB call gave a wrong length");
  ei_x_free(&r);
  std::printf("stall_peer: the stalled peer's call was answered after it resumed\n");

  // 2. A asks for 32 MiB of replies and does not read them.
  for (int k = 0; k < 4; ++k) {
    auto big = gen_call(a, "builtins", "bytes", [](ei_x_buff& y) {
      ei_x_encode_list_header(&y, 1);
      ei_x_encode_long(&y, 8 << 20);
      ei_x_encode_empty_list(&y);
    });
    if (ei_reg_send_tmo(&a.ec, a.fd, const_cast<char*>("py"), big.buff, big.index, tmo_ms) < 0)
      fail("A cannot send a call");
    ei_x_free(&big);
  }
  add_calls(b, 20);
  std::printf("stall_peer: 20 calls served while another peer did not read 32 MiB of replies\n");
  for (int k = 0; k < 4; ++k) {
    auto big = receive_reply(a, "A's 8 MiB call");
    auto j = open_ok_reply(big, "A's 8 MiB call");
    int type = 0;
    int size = 0;
    if (ei_get_type(big.buff, &j, &type, &size) < 0 || type != ERL_BINARY_EXT || size != 8 << 20)
      fail("A's 8 MiB reply is not an 8 MiB binary");
    ei_x_free(&big);
  }
  std::printf("stall_peer: the slow reader got its 4 replies\n");
  ei_close_connection(a.fd);
  ei_close_connection(b.fd);
  std::printf("stall_peer: PASS\n");
  return 0;
}
