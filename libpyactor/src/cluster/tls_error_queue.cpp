// A clean OpenSSL error queue before every TLS read, write and handshake
// step that CAF's openssl module makes.
//
// OpenSSL's contract: the calling thread's error queue must be empty before
// SSL_read, SSL_write, SSL_accept or SSL_connect, or SSL_get_error reports
// SSL_ERROR_SSL for whatever fails next. CAF 0.17.6 (caf::openssl::session)
// never clears it, and drains it only inside log statements that Debian's
// build compiles out. So a peer that hung up without a TLS close_notify (every
// pyactor client that exits, a port scan) left an error behind, and the next
// SSL_read that merely had to wait on another, healthy connection of the same
// network thread failed: a head dropped its nodes (remote_link_unreachable) at
// every TLS client's exit, and they rejoined a second later.
//
// The definitions below take the place of libssl's: the dynamic linker looks
// in the executable and in libpyactor.so (pyactor.map exports them) before
// libssl.so, which libcaf_openssl.so is linked against. Each one clears the
// queue and calls libssl's own function.
#include "cluster/tls_error_queue.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

/// libssl's own definition of `name` (the next one after ours).
template <class Fn>
Fn next_definition(const char* name) {
  auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
  if (fn == nullptr) {
    std::fprintf(stderr, "pyactor: cannot find libssl's %s (dlsym: %s)\n", name, ::dlerror());
    std::abort();
  }
  return fn;
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next_definition<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = next_definition<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next_definition<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

namespace pyactor::cluster {

bool tls_error_queue_guard_active() {
  return ::dlsym(RTLD_DEFAULT, "SSL_read") == reinterpret_cast<void*>(&SSL_read)
         && ::dlsym(RTLD_DEFAULT, "SSL_accept") == reinterpret_cast<void*>(&SSL_accept);
}

} // namespace pyactor::cluster
