// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * OpenSSL as Debian 12's civetweb (1.15) needs it: civetweb loads "libssl.so" with dlopen() and
 * looks its functions up by name, among them SSL_get_peer_certificate, which OpenSSL 3 no longer
 * exports (it became a macro for SSL_get1_peer_certificate). civetweb calls it on every HTTPS
 * connection, through a NULL pointer. This library carries the soname "libssl.so", so once the
 * agent has loaded it, civetweb's dlopen("libssl.so") finds it, and with it every other libssl
 * function (a dependency) plus the one that went missing. It also spares the runtime image the
 * libssl-dev package, which is where the unversioned libssl.so link comes from.
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509* SSL_get_peer_certificate(const SSL* s);

X509* SSL_get_peer_certificate(const SSL* s) { return SSL_get1_peer_certificate(s); }
