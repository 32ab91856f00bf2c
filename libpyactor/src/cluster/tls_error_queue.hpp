// pyactor's SSL_read, SSL_write, SSL_accept and SSL_connect, which empty the
// thread's OpenSSL error queue before calling libssl's (CAF 0.17.6 does not;
// see tls_error_queue.cpp for what that broke).
#pragma once

namespace pyactor::cluster {

/// True when the process resolves SSL_read and SSL_accept to pyactor's
/// definitions, so CAF's openssl module goes through them.
bool tls_error_queue_guard_active();

} // namespace pyactor::cluster
