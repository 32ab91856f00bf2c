// The gateway's lifecycle and poll loop: start (ei node, epmd, acceptor),
// the loop over every connection, adopting and closing connections, ticks
// (see gateway_impl.hpp for the whole picture, connection_io.cpp for the
// reading and writing).
#include "gateway_impl.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "ei_socket.hpp"
#include "node_setup.hpp"
#include "pyactor/erlbridge/dist_frame.hpp"

namespace pyactor::erlbridge {

namespace {

unsigned to_ms(std::chrono::milliseconds d) {
  return static_cast<unsigned>(d.count() > 0 ? d.count() : 1);
}

} // namespace

void gateway::impl::close_connection(uint64_t id) {
  auto i = conns.find(id);
  if (i == conns.end())
    return;
  log("connection from " + i->second.peer + " closed");
  auto o = std::move(i->second.o);
  {
    std::lock_guard<std::mutex> guard{conns_mtx};
    conns.erase(i);
  }
  {
    // Under its lock: no thread starts a write after this; one writing
    // now closes the fd when it is done.
    std::lock_guard<std::mutex> guard{o->mtx};
    o->closed = true;
    if (!o->writing) {
      o->out.clear();
      o->out_bytes = 0;
      ei_close_connection(o->fd);
    }
  }
  state->on_disconnect(id);
}

void gateway::impl::adopt_accepted() {
  std::vector<std::pair<int, std::string>> fresh;
  {
    std::lock_guard<std::mutex> guard{mtx};
    fresh.swap(accepted);
  }
  for (auto& [fd, peer] : fresh) {
    auto flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    auto id = next_conn++;
    auto o = std::make_shared<output>();
    o->fd = fd;
    o->peer = peer;
    o->monitors = (peer_dist_flags(fd) & dflags_monitors) == dflags_monitors;
    o->last_write = clock::now();
    std::lock_guard<std::mutex> guard{conns_mtx};
    auto& c = conns[id];
    c.id = id;
    c.fd = fd;
    c.peer = peer;
    c.o = std::move(o);
    c.last_read = clock::now();
    log("connection from " + peer);
  }
}

void gateway::impl::on_wake() {
  uint64_t counter = 0;
  [[maybe_unused]] auto n = ::read(wake_fd, &counter, sizeof(counter));
  adopt_accepted();
  std::vector<uint64_t> failed;
  {
    std::lock_guard<std::mutex> guard{mtx};
    failed.swap(broken);
    batch.swap(completions);
  }
  for (auto id : failed)
    close_connection(id);
  for (auto& [key, outcome] : batch)
    state->on_completion(key, std::move(outcome));
  batch.clear();
}

gateway::impl::clock::time_point gateway::impl::keep_alive(clock::time_point now) {
  to_close.clear();
  for (auto& [id, c] : conns) {
    if (now - c.last_read > opts.peer_silence) {
      log("connection from " + c.peer + " silent for "
          + std::to_string(opts.peer_silence.count()) + " ms: closing it");
      to_close.push_back(id);
    } else {
      bool quiet;
      {
        std::lock_guard<std::mutex> guard{c.o->mtx};
        quiet = now - c.o->last_write > tick_interval && c.o->out_bytes == 0;
      }
      if (quiet)
        queue_tick(c);
      if (c.in_used < input_base)
        c.in.shrink(input_base, c.in_used); // a large frame's buffer goes back
    }
  }
  for (auto id : to_close)
    close_connection(id);
  return now + tick_interval / 2;
}

bool gateway::impl::epmd_closed() {
  char buf[64];
  auto n = ::recv(epmd_fd, buf, sizeof(buf), MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK);
}

bool gateway::impl::stdin_closed() {
  char buf[256];
  auto n = ::read(0, buf, sizeof(buf));
  return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
}

void gateway::impl::run() {
  loop_thread = std::this_thread::get_id();
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  std::vector<int> reading;
  auto next_keep_alive = clock::now() + tick_interval / 2;
  auto next_sweep = clock::time_point::max();
  while (!stopping.load()) {
    fds.clear();
    ids.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    if (opts.stop_fd >= 0)
      fds.push_back({opts.stop_fd, POLLIN, 0});
    if (opts.exit_with_stdin)
      fds.push_back({0, POLLIN, 0});
    if (epmd_fd >= 0)
      fds.push_back({epmd_fd, POLLIN, 0});
    auto first_conn = fds.size();
    for (auto& [id, c] : conns) {
      fds.push_back(
        {c.fd, static_cast<short>(POLLIN | (c.o->want_write.load() ? POLLOUT : 0)), 0});
      ids.push_back(id);
    }
    auto first_reply = fds.size();
    reading.clear();
    py->reading_fds(reading);
    for (auto fd : reading)
      fds.push_back({fd, POLLIN, 0});
    auto now = clock::now();
    auto next = std::min(next_keep_alive, next_sweep);
    auto wait_ms = next <= now ? 0
                               : std::chrono::duration_cast<std::chrono::milliseconds>(next - now)
                                     .count() + 1;
    auto rc = ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
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
        on_wake();
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
    // Replies first: they leave with this turn's other output.
    for (size_t i = first_reply; i < fds.size(); ++i)
      if (fds[i].revents != 0)
        py->on_readable(fds[i].fd);
    for (size_t i = first_conn; i < first_reply && !stopping.load(); ++i) {
      if (fds[i].revents == 0)
        continue;
      auto c = find(ids[i - first_conn]);
      if (c == nullptr)
        continue; // closed meanwhile
      if ((fds[i].revents & POLLOUT) != 0) {
        std::lock_guard<std::mutex> guard{c->o->mtx};
        c->o->want_write = false;
        mark_dirty(*c);
      }
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !read_connection(*c))
        close_connection(c->id);
    }
    now = clock::now();
    if (now >= next_keep_alive)
      next_keep_alive = keep_alive(now);
    next_sweep = state->sweep_idle(now); // demonitors go out with the flush
    state->flush_replies(); // a batcher's replies of this turn: one message
    flush_dirty();
  }
  shutdown_all();
}

std::string gateway::impl::writev_report() {
  std::lock_guard<std::mutex> guard{trace_mtx};
  if (writev_us.empty())
    return {};
  auto xs = writev_us;
  std::sort(xs.begin(), xs.end());
  char buf[128];
  std::snprintf(buf, sizeof(buf), "writev system calls: %zu, median/p90 in us: %.1f/%.1f",
                xs.size(), xs[xs.size() / 2], xs[xs.size() * 9 / 10]);
  return buf;
}

void gateway::impl::shutdown_all() {
  stopping = true;
  py->stop_reading(); // the runtime's own threads deliver what is left
  if (auto report = state->stage_report(); !report.empty())
    log(report);
  if (auto report = writev_report(); !report.empty())
    log(report);
  if (acceptor)
    acceptor->stop();
  std::vector<uint64_t> open;
  for (auto& [id, c] : conns)
    open.push_back(id);
  for (auto id : open)
    close_connection(id);
  for (auto& [fd, peer] : accepted)
    ei_close_connection(fd);
  accepted.clear();
}

gateway::gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

gateway::~gateway() {
  impl_->stopping = true;
  if (impl_->acceptor)
    impl_->acceptor->stop();
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
  p->self = dist_identity{p->node_name, creation};
  p->self_pid = encode_own_pid(p->self, 1);
  auto cbs = gateway_socket_callbacks();
  if (ei_connect_xinit_ussi(&p->ec, host.c_str(), o.alive.c_str(), p->node_name.c_str(), &addr,
                            cookie.value().c_str(), creation, cbs, sizeof(*cbs), nullptr)
      < 0)
    return make_error(errc::bad_request, "cannot set up node " + p->node_name
                                           + " (ei_connect_xinit, erl_errno "
                                           + std::to_string(erl_errno) + ")");
  int port = 0;
  p->listen_fd = ei_xlisten(&p->ec, &addr, &port, 128);
  if (p->listen_fd < 0)
    return make_error(errc::bad_request, "cannot listen on " + o.listen_address + ": "
                                           + std::strerror(errno));
  p->port = port;
  // The acceptor accepts by itself (each handshake then on its own thread).
  ::fcntl(p->listen_fd, F_SETFL, ::fcntl(p->listen_fd, F_GETFL) | O_NONBLOCK);
  auto published = publish_with_epmd(p->ec, port, o, p->node_name);
  if (!published)
    return published.error();
  p->epmd_fd = published.value();
  p->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->wake_fd < 0)
    return make_error(errc::not_running, std::string{"eventfd: "} + std::strerror(errno));
  p->state = std::make_unique<gateway_state>(*p, py, p->node_name);
  p->py = &py;
  if (auto e = std::getenv("PYACTOR_BRIDGE_DIRECT_REPLIES"); e != nullptr && *e != 0)
    p->direct_limit = std::strtoull(e, nullptr, 10);
  if (auto e = std::getenv("PYACTOR_BRIDGE_LOOP_READS"); e != nullptr && *e != 0)
    p->read_limit = std::strtoull(e, nullptr, 10);
  // PYACTOR_BRIDGE_STAGES=1: per-stage times of calls, reported on stop.
  if (auto e = std::getenv("PYACTOR_BRIDGE_STAGES"); e != nullptr && std::string{e} == "1") {
    p->state->trace_stages(true);
    p->trace_writes = true;
  }
  auto raw = p.get();
  p->acceptor = std::make_unique<handshakes>(
    p->ec, p->listen_fd, o.handshake_timeout,
    [raw](int fd, std::string node) {
      {
        std::lock_guard<std::mutex> guard{raw->mtx};
        raw->accepted.emplace_back(fd, std::move(node));
      }
      raw->wake();
    },
    [raw](const std::string& line) { raw->log(line); });
  p->acceptor->start();
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
