// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The soname "libcrypto.so" for civetweb's dlopen("libcrypto.so"), with libcrypto.so.3 as its
 * dependency (see tls_shim_ssl.c): it adds nothing but the name.
 */
void ipctrace_tls_shim_crypto(void);

void ipctrace_tls_shim_crypto(void) {}
