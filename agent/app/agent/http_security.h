// Basic authentication and TLS for the agent's HTTP endpoints: the users file (htpasswd-style
// "user:crypt-hash" lines, checked with libxcrypt) and the checks of the certificate and key the
// server (app/agent/http_server.h) serves with.
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

// Checks that both files are given, then the certificate and key (check_tls_files).
Status check_tls(const TlsFiles& files);
// The certificate and key loaded as the server will, and checked to belong together. The error
// names the file at fault: "TLS: cannot use the certificate X: ...", "TLS: cannot use the private
// key Y: ...", "TLS: the key Y does not belong to the certificate X: ...".
Status check_tls_files(const TlsFiles& files);

// Puts the certificate chain and key into `ssl_ctx` (an SSL_CTX*) and requires TLS 1.2 or later,
// as check_tls_files loads them. 1 on success, -1 on failure.
int configure_tls_context(void* ssl_ctx, const TlsFiles& files);

}  // namespace ipctrace
