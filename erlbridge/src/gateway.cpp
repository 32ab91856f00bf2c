// The C-node transport: one poll loop over every Erlang connection, an accept
// thread for handshakes, and a wake-up eventfd through which completed calls
// come back to the loop (only the loop thread ever writes to a connection).
#include "pyactor/erlbridge/gateway.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ei.h>

#include "node_setup.hpp"
#include "pyactor/erlbridge/protocol.hpp"

namespace pyactor::erlbridge {

namespace {

/// Messages read from one connection before the loop looks at the others.
constexpr int max_messages_per_turn = 64;

unsigned to_ms(std::chrono::milliseconds d) {
  return static_cast<unsigned>(d.count() > 0 ? d.count() : 1);
}

} // namespace

struct gateway::impl : transport_callee {
  gateway_options opts;
  ei_cnode ec{};
  std::string node_name;
  int listen_fd = -1;
  int epmd_fd = -1;
  int wake_fd = -1;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::thread acceptor;

  // -- shared between threads (guarded by mtx) --------------------------------
  std::mutex mtx;
  std::deque<std::pair<uint64_t, result<value>>> completions;
  std::vector<std::pair<int, std::string>> accepted; // fd, peer node

  // -- loop thread only -------------------------------------------------------
  struct connection {
    uint64_t id = 0;
    std::string peer;
  };
  std::unordered_map<int, connection> conns;          // by fd
  std::unordered_map<uint64_t, int> fd_of;            // by connection id
  uint64_t next_conn = 1;
  uint64_t epoch = 0; // bumped whenever a connection opens or closes
  std::unique_ptr<gateway_state> state;
  ei_x_buff xbuf{};

  impl(gateway_options o) : opts(std::move(o)) {
    ei_x_new(&xbuf);
  }

  ~impl() override {
    ei_x_free(&xbuf);
    for (auto fd : {listen_fd, epmd_fd, wake_fd})
      if (fd >= 0)
        ::close(fd);
  }

  void log(const std::string& line) {
    if (opts.log)
      opts.log(line);
    else
      std::fprintf(stderr, "pyactor bridge: %s\n", line.c_str());
  }

  void wake() {
    uint64_t one = 1;
    // A full eventfd counter still wakes the loop; nothing else can fail here.
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  // -- transport_callee -------------------------------------------------------

  void post(uint64_t key, result<value> outcome) override {
    {
      std::lock_guard<std::mutex> guard{mtx};
      completions.emplace_back(key, std::move(outcome));
    }
    wake();
  }

  void send(uint64_t conn, const erl_pid& to, const std::vector<uint8_t>& etf) override {
    auto i = fd_of.find(conn);
    if (i == fd_of.end())
      return; // the caller's node went away; its calls were cancelled
    erlang_pid pid{};
    std::snprintf(pid.node, sizeof(pid.node), "%s", to.node.c_str());
    pid.num = to.num;
    pid.serial = to.serial;
    pid.creation = to.creation;
    auto fd = i->second;
    auto rc = ei_send_tmo(fd, &pid, reinterpret_cast<char*>(const_cast<uint8_t*>(etf.data())),
                          static_cast<int>(etf.size()), to_ms(opts.io_timeout));
    if (rc < 0) {
      log("cannot send a reply to " + conns[fd].peer + " (erl_errno " + std::to_string(erl_errno)
          + "): closing that connection");
      close_connection(fd);
    }
  }

  // -- connections -------------------------------------------------------------

  void accept_loop() {
    while (!stopping.load()) {
      // Wait for a connection first, so the timeout below is the handshake's.
      pollfd pfd{listen_fd, POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0)
        continue;
      ErlConnect con{};
      auto fd = ei_accept_tmo(&ec, listen_fd, &con, to_ms(opts.io_timeout));
      if (stopping.load()) {
        if (fd >= 0)
          ::close(fd);
        return;
      }
      if (fd < 0) {
        auto err = erl_errno;
        if (err == EIO)
          log("refused a connection: handshake failed (wrong cookie or protocol)");
        else if (err == ETIMEDOUT)
          log("refused a connection: handshake did not finish within "
              + std::to_string(opts.io_timeout.count()) + " ms");
        else if (err == EMFILE || err == ENFILE)
          std::this_thread::sleep_for(std::chrono::milliseconds(50)); // out of fds: back off
        continue;
      }
      // Replies are small and many are in flight: without TCP_NODELAY, Nagle
      // holds each one back until the peer's (delayed) ACK of the last.
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      {
        std::lock_guard<std::mutex> guard{mtx};
        accepted.emplace_back(fd, con.nodename);
      }
      wake();
    }
  }

  void close_connection(int fd) {
    auto i = conns.find(fd);
    if (i == conns.end())
      return;
    auto id = i->second.id;
    log("connection from " + i->second.peer + " closed");
    ++epoch;
    conns.erase(i);
    fd_of.erase(id);
    ei_close_connection(fd);
    state->on_disconnect(id);
  }

  /// Reads the messages `fd` has ready (at most max_messages_per_turn).
  void read_connection(int fd) {
    for (int n = 0; n < max_messages_per_turn; ++n) {
      erlang_msg msg{};
      xbuf.index = 0;
      auto rc = ei_xreceive_msg_tmo(fd, &msg, &xbuf, to_ms(opts.io_timeout));
      if (rc == ERL_TICK) {
        // ei answered the tick
      } else if (rc == ERL_MSG) {
        if (msg.msgtype == ERL_REG_SEND || msg.msgtype == ERL_REG_SEND_TT) {
          state->on_message(conns[fd].id, msg.toname,
                            reinterpret_cast<const uint8_t*>(xbuf.buff),
                            static_cast<size_t>(xbuf.index));
          if (conns.count(fd) == 0)
            return; // a reply failed and closed it
        }
        // links, exits and sends to pids: the gateway has no processes
      } else {
        close_connection(fd);
        return;
      }
      int avail = 0;
      if (::ioctl(fd, FIONREAD, &avail) != 0 || avail <= 0)
        return;
    }
  }

  void adopt_accepted() {
    std::vector<std::pair<int, std::string>> fresh;
    {
      std::lock_guard<std::mutex> guard{mtx};
      fresh.swap(accepted);
    }
    for (auto& [fd, peer] : fresh) {
      auto id = next_conn++;
      ++epoch;
      conns[fd] = connection{id, peer};
      fd_of[id] = fd;
      log("connection from " + peer);
    }
  }

  void drain_completions() {
    uint64_t counter = 0;
    [[maybe_unused]] auto n = ::read(wake_fd, &counter, sizeof(counter));
    adopt_accepted();
    std::deque<std::pair<uint64_t, result<value>>> batch;
    {
      std::lock_guard<std::mutex> guard{mtx};
      batch.swap(completions);
    }
    for (auto& [key, outcome] : batch)
      state->on_completion(key, std::move(outcome));
  }

  /// Reads what epmd sent on the registration connection; true if it closed.
  bool epmd_closed() {
    char buf[64];
    auto n = ::recv(epmd_fd, buf, sizeof(buf), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  bool stdin_closed() {
    char buf[256];
    auto n = ::read(0, buf, sizeof(buf));
    return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
  }

  void run() {
    std::vector<pollfd> fds;
    while (!stopping.load()) {
      fds.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      if (opts.stop_fd >= 0)
        fds.push_back({opts.stop_fd, POLLIN, 0});
      if (opts.exit_with_stdin)
        fds.push_back({0, POLLIN, 0});
      if (epmd_fd >= 0)
        fds.push_back({epmd_fd, POLLIN, 0});
      auto first_conn = fds.size();
      auto polled_epoch = epoch;
      for (auto& [fd, c] : conns)
        fds.push_back({fd, POLLIN, 0});
      auto rc = ::poll(fds.data(), fds.size(), -1);
      if (rc < 0) {
        if (errno == EINTR)
          continue;
        log(std::string{"poll failed: "} + std::strerror(errno));
        break;
      }
      for (size_t i = 0; i < first_conn; ++i) {
        if (fds[i].revents == 0)
          continue;
        if (fds[i].fd == wake_fd) {
          drain_completions();
        } else if (fds[i].fd == opts.stop_fd) {
          log("stop requested");
          stopping = true;
        } else if (fds[i].fd == 0) {
          if (stdin_closed()) {
            log("stdin closed (the Erlang port owner went away): stopping");
            stopping = true;
          }
        } else if (fds[i].fd == epmd_fd && epmd_closed()) {
          log("epmd closed the registration of " + node_name + ": registering again");
          ::close(epmd_fd);
          epmd_fd = ei_publish_tmo(&ec, port, to_ms(opts.io_timeout));
          if (epmd_fd < 0)
            log("cannot register " + node_name + " with epmd again; serving open connections");
        }
      }
      // An fd closed (and maybe reused) since the poll: look again first.
      for (size_t i = first_conn; i < fds.size() && !stopping.load() && epoch == polled_epoch; ++i)
        if (fds[i].revents != 0)
          read_connection(fds[i].fd);
    }
    shutdown_all();
  }

  void shutdown_all() {
    stopping = true;
    ::shutdown(listen_fd, SHUT_RDWR); // wakes the acceptor
    if (acceptor.joinable())
      acceptor.join();
    std::vector<int> open;
    for (auto& [fd, c] : conns)
      open.push_back(fd);
    for (auto fd : open)
      close_connection(fd);
    for (auto& [fd, peer] : accepted)
      ::close(fd);
    accepted.clear();
  }
};

gateway::gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

gateway::~gateway() {
  if (impl_->acceptor.joinable()) {
    impl_->stopping = true;
    ::shutdown(impl_->listen_fd, SHUT_RDWR);
    impl_->acceptor.join();
  }
}

result<std::unique_ptr<gateway>> gateway::start(gateway_options opts, python_service& py) {
  auto p = std::make_unique<impl>(std::move(opts));
  auto& o = p->opts;
  auto cookie = read_cookie(o);
  if (!cookie)
    return cookie.error();
  if (ei_init() != 0)
    return make_error(errc::not_running, "erl_interface failed to initialise (ei_init)");
  in_addr addr{};
  if (::inet_pton(AF_INET, o.listen_address.c_str(), &addr) != 1)
    return make_error(errc::bad_request, "listen address '" + o.listen_address
                                           + "' is not an IPv4 address");
  auto host = o.host.empty() ? default_host(o) : o.host;
  if (o.alive.empty() || o.alive.find('@') != std::string::npos)
    return make_error(errc::bad_request, "node name '" + o.alive + "' must be a plain name");
  p->node_name = o.alive + "@" + host;
  std::random_device rd;
  // A fresh creation per start: pids of an earlier incarnation never reach this one.
  auto creation = (static_cast<unsigned>(rd()) & 0x7fffffffu) | 4u;
  if (ei_connect_xinit(&p->ec, host.c_str(), o.alive.c_str(), p->node_name.c_str(), &addr,
                       cookie.value().c_str(), creation) < 0)
    return make_error(errc::bad_request, "cannot set up node " + p->node_name
                                           + " (ei_connect_xinit, erl_errno "
                                           + std::to_string(erl_errno) + ")");
  int port = 0;
  p->listen_fd = ei_xlisten(&p->ec, &addr, &port, 128);
  if (p->listen_fd < 0)
    return make_error(errc::bad_request, "cannot listen on " + o.listen_address + ": "
                                           + std::strerror(errno));
  p->port = port;
  auto published = publish_with_epmd(p->ec, port, o, p->node_name);
  if (!published)
    return published.error();
  p->epmd_fd = published.value();
  p->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->wake_fd < 0)
    return make_error(errc::not_running, std::string{"eventfd: "} + std::strerror(errno));
  p->state = std::make_unique<gateway_state>(*p, py, p->node_name);
  auto raw = p.get();
  p->acceptor = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<gateway>(new gateway(std::move(p)));
}

void gateway::run() {
  impl_->run();
}

void gateway::stop() {
  impl_->stopping = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof(one));
}

const std::string& gateway::node_name() const {
  return impl_->node_name;
}

int gateway::port() const {
  return impl_->port;
}

} // namespace pyactor::erlbridge
