#include "ei_socket.hpp"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace pyactor::erlbridge {

namespace {

/// DFLAG_DIST_MONITOR_NAME (erts dist.h).
constexpr unsigned char dflag_dist_monitor_name = 0x20;

struct socket_ctx {
  int fd = -1;
  bool handshake_done = false;
  uint64_t peer_flags = 0;
};

/// Peer flags by fd, from the handshake until the socket closes.
std::mutex flags_mtx;
std::unordered_map<int, uint64_t> flags_by_fd;

int fd_of(void* ctx) {
  return static_cast<socket_ctx*>(ctx)->fd;
}

/// Waits until `fd` is ready for `events`; 0, ETIMEDOUT or an errno.
int wait_for(int fd, short events, unsigned tmo) {
  if (tmo == EI_SCLBK_INF_TMO)
    return 0; // blocking sockets: the call itself waits
  pollfd p{fd, events, 0};
  for (;;) {
    auto rc = ::poll(&p, 1, static_cast<int>(tmo));
    if (rc > 0)
      return 0;
    if (rc == 0)
      return ETIMEDOUT;
    if (errno != EINTR)
      return errno;
  }
}

int cb_socket(void** ctx, void*) {
  auto fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return errno;
  *ctx = new socket_ctx{fd};
  return 0;
}

int cb_close(void* ctx) {
  auto s = static_cast<socket_ctx*>(ctx);
  {
    std::lock_guard<std::mutex> guard{flags_mtx};
    flags_by_fd.erase(s->fd);
  }
  auto rc = ::close(s->fd) == 0 ? 0 : errno;
  delete s;
  return rc;
}

int cb_listen(void* ctx, void* addr, int* len, int backlog) {
  auto fd = fd_of(ctx);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, static_cast<sockaddr*>(addr), static_cast<socklen_t>(*len)) != 0)
    return errno;
  socklen_t l = static_cast<socklen_t>(*len);
  if (::getsockname(fd, static_cast<sockaddr*>(addr), &l) != 0)
    return errno;
  *len = static_cast<int>(l);
  return ::listen(fd, backlog) == 0 ? 0 : errno;
}

/// A connection the acceptor took already, for the next cb_accept on this thread.
thread_local int handed_over_fd = -1;

int cb_accept(void** ctx, void* addr, int* len, unsigned tmo) {
  if (handed_over_fd >= 0) {
    auto fd = handed_over_fd;
    handed_over_fd = -1;
    socklen_t l = static_cast<socklen_t>(*len);
    if (::getpeername(fd, static_cast<sockaddr*>(addr), &l) != 0) {
      auto err = errno;
      ::close(fd);
      return err;
    }
    *len = static_cast<int>(l);
    *ctx = new socket_ctx{fd};
    return 0;
  }
  auto lfd = fd_of(*ctx);
  if (auto rc = wait_for(lfd, POLLIN, tmo))
    return rc;
  socklen_t l = static_cast<socklen_t>(*len);
  int fd;
  do {
    fd = ::accept4(lfd, static_cast<sockaddr*>(addr), &l, SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return errno;
  *len = static_cast<int>(l);
  *ctx = new socket_ctx{fd};
  return 0;
}

int cb_connect(void* ctx, void* addr, int len, unsigned tmo) {
  auto fd = fd_of(ctx);
  if (tmo == EI_SCLBK_INF_TMO)
    return ::connect(fd, static_cast<sockaddr*>(addr), static_cast<socklen_t>(len)) == 0 ? 0
                                                                                            : errno;
  // With a timeout: connect without blocking, wait, then blocking again.
  auto flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int err = 0;
  if (::connect(fd, static_cast<sockaddr*>(addr), static_cast<socklen_t>(len)) != 0) {
    err = errno;
    if (err == EINTR || err == EINPROGRESS) {
      err = wait_for(fd, POLLOUT, tmo);
      if (err == 0) {
        socklen_t l = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
      }
    }
  }
  ::fcntl(fd, F_SETFL, flags);
  return err;
}

int cb_writev(void* ctx, const void* iov, int iovcnt, ssize_t* len, unsigned tmo) {
  auto fd = fd_of(ctx);
  if (auto rc = wait_for(fd, POLLOUT, tmo))
    return rc;
  ssize_t n;
  do {
    n = ::writev(fd, static_cast<const iovec*>(iov), iovcnt);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno;
  *len = n;
  return 0;
}

int cb_write(void* ctx, const char* buf, ssize_t* len, unsigned tmo) {
  auto s = static_cast<socket_ctx*>(ctx);
  if (auto rc = wait_for(s->fd, POLLOUT, tmo))
    return rc;
  // The OTP 23 handshake's 'N' message: Length:16, 'N', Flags:64, ... The
  // low flag byte is its 11th byte. ei writes each handshake message whole
  // in one call (a 2-byte header, see cb_handshake_header_size).
  char patched[64];
  const char* out = buf;
  if (!s->handshake_done && *len >= 11 && *len <= static_cast<ssize_t>(sizeof(patched))
      && buf[2] == 'N') {
    std::memcpy(patched, buf, static_cast<size_t>(*len));
    patched[10] = static_cast<char>(static_cast<unsigned char>(patched[10])
                                    | dflag_dist_monitor_name);
    out = patched;
  }
  ssize_t n;
  do {
    n = ::write(s->fd, out, static_cast<size_t>(*len));
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno;
  *len = n;
  return 0;
}

int cb_read(void* ctx, char* buf, ssize_t* len, unsigned tmo) {
  auto s = static_cast<socket_ctx*>(ctx);
  if (auto rc = wait_for(s->fd, POLLIN, tmo))
    return rc;
  ssize_t n;
  do {
    n = ::read(s->fd, buf, static_cast<size_t>(*len));
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno;
  // The peer's OTP 23 name message, read after its 2-byte length: 'N', Flags:64.
  if (!s->handshake_done && n >= 9 && buf[0] == 'N') {
    uint64_t f = 0;
    for (int i = 1; i <= 8; ++i)
      f = (f << 8) | static_cast<unsigned char>(buf[i]);
    s->peer_flags = f;
  }
  *len = n;
  return 0;
}

int cb_handshake_header_size(void*, int* sz) {
  *sz = 2;
  return 0;
}

int cb_connect_handshake_complete(void* ctx) {
  static_cast<socket_ctx*>(ctx)->handshake_done = true;
  return 0;
}

int cb_accept_handshake_complete(void* ctx) {
  auto s = static_cast<socket_ctx*>(ctx);
  s->handshake_done = true;
  {
    std::lock_guard<std::mutex> guard{flags_mtx};
    flags_by_fd[s->fd] = s->peer_flags;
  }
  int one = 1;
  // Replies are small and many are in flight: without TCP_NODELAY, Nagle
  // holds each one back until the peer's (delayed) ACK of the last.
  ::setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return 0;
}

int cb_get_fd(void* ctx, int* fd) {
  *fd = fd_of(ctx);
  return 0;
}

ei_socket_callbacks callbacks = {
  // Every callback below waits for its own timeout: ei then never polls a
  // socket itself (it would wait on the listening socket before the
  // cb_accept that takes a handed-over connection).
  EI_SCLBK_FLG_FULL_IMPL,
  cb_socket,
  cb_close,
  cb_listen,
  cb_accept,
  cb_connect,
  cb_writev,
  cb_write,
  cb_read,
  cb_handshake_header_size,
  cb_connect_handshake_complete,
  cb_accept_handshake_complete,
  cb_get_fd,
};

} // namespace

ei_socket_callbacks* gateway_socket_callbacks() {
  return &callbacks;
}

void hand_over_accepted(int fd) {
  handed_over_fd = fd;
}

uint64_t peer_dist_flags(int fd) {
  std::lock_guard<std::mutex> guard{flags_mtx};
  auto i = flags_by_fd.find(fd);
  return i == flags_by_fd.end() ? 0 : i->second;
}

} // namespace pyactor::erlbridge
