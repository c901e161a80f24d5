// Basic authentication and TLS for the agent's HTTP endpoints: the users file (htpasswd-style
// "user:crypt-hash" lines, checked with libxcrypt) and the certificate and key civetweb serves.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ipctrace {

class BasicAuth {
 public:
  // Reads a users file: one "user:hash" per line, the hash in crypt(3) form of a strong method
  // (bcrypt "$2b$"/"$2y$" as `htpasswd -B` writes, yescrypt "$y$", sha512crypt "$6$"...);
  // blank lines and lines starting with '#' are skipped. The error names the file and line.
  static Result<BasicAuth> load(const std::string& path);
  static Result<BasicAuth> parse(std::string_view text, const std::string& origin);

  // Whether an Authorization header value ("Basic base64(user:password)") names a user of
  // the file with that user's password. Thread-safe. A password that matched once is
  // remembered (as its SHA-256) so that a scrape every few seconds does not pay bcrypt's cost.
  [[nodiscard]] bool check(std::string_view authorization) const;
  [[nodiscard]] size_t users() const { return hashes_.size(); }

 private:
  struct Cache;
  std::map<std::string, std::string> hashes_;
  std::shared_ptr<Cache> cache_;
};

struct TlsFiles {
  std::string cert;  // PEM: the certificate, then any intermediates
  std::string key;   // PEM: its private key
};

// Loads the libraries through which civetweb finds OpenSSL (libipctrace-tls-{ssl,crypto}.so, next
// to the binary or in ../lib/ipctrace; see agent/app/agent/tls_shim_ssl.c). Once per process.
Status load_tls_shims();
// The same from `dir` (or `dir`/../lib/ipctrace). The error names every path tried.
Status load_tls_shims_from(const std::string& dir);

// Loads the TLS libraries, then checks the certificate and key (check_tls_files).
Status check_tls(const TlsFiles& files);
// The certificate and key loaded as the server will, and checked to belong together. The error
// names the file at fault: "TLS: cannot use the certificate X: ...", "TLS: cannot use the private
// key Y: ...", "TLS: the key Y does not belong to the certificate X: ...".
Status check_tls_files(const TlsFiles& files);

// For civetweb's init_ssl callback: puts the certificate chain and key into `ssl_ctx` (an
// SSL_CTX*) and requires TLS 1.2 or later. 1 on success (civetweb then loads no certificate
// of its own), -1 on failure.
int configure_tls_context(void* ssl_ctx, const TlsFiles& files);

}  // namespace ipctrace
