// Basic authentication and TLS for the agent's HTTP endpoints: the users file (htpasswd-style
// "user:crypt-hash" lines, checked with libxcrypt) and the checks of the certificate and key the
// server (app/agent/http_server.h) serves with.
//
// Everything here is hostile input: the Authorization header (any client that reaches the port),
// and the files an operator names (which a mistake can make a FIFO, a device or a huge file).
// What BasicAuth guarantees (README.md, "Security"):
//  - a hash is refused at load unless it is well formed and at most as costly as bcrypt cost
//    kMaxBcryptCost (sha512crypt, yescrypt: the caps below), so no users file makes one request
//    cost seconds of CPU or a gigabyte of memory;
//  - an unknown user costs the same work as a known one with a wrong password (one crypt(3) of
//    the first user's hash), so a client cannot tell which users exist by timing;
//  - at most kMaxConcurrentVerifications crypt(3) calls run at once and at most
//    kMaxWaitingVerifications requests wait for one; past that the answer is `busy`, at once;
//  - a password that verified once is remembered (its SHA-256), and such a request takes no slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ipctrace {

// The costliest hashes a users file may hold. bcrypt's cost 12 (2^12 key-setup rounds) takes
// 445 ms on the project's reference VM (2 cores, 2026-12-02); the other caps cost at most the
// same for the longest password the agent verifies (kMaxPasswordBytes), since sha512crypt's work
// grows with the password's length and the client chooses it.
inline constexpr int kMaxBcryptCost = 12;
// sha512crypt ("$6$rounds=N$"): 1.84 us a round with a 128-byte password on that VM, so 250,000
// rounds ~ 460 ms (the default, 5,000, and the 100,000 of many guides are well below).
inline constexpr uint32_t kMaxSha512Rounds = 250000;
// yescrypt ("$y$"): its cost is memory as well as time, 128 * N * r bytes. 32 MiB (libxcrypt's
// and mkpasswd's cost 6: N = 2^13, r = 32; 310 ms on that VM) is the cap: two verifications at
// once then hold 64 MiB, a quarter of the DaemonSet's 256 MiB memory limit. The default cost 5
// uses 16 MiB. Parameters other than N and r (p, t, g, a ROM), which no common tool writes, are
// refused.
inline constexpr uint64_t kMaxYescryptBytes = uint64_t{32} << 20;
// A longer password (or one holding a NUL byte, which crypt(3) would cut at) is denied without
// a verification: bcrypt reads 72 bytes, and sha512crypt's cost grows with the length.
inline constexpr size_t kMaxPasswordBytes = 128;
// Users files past this size are refused (a file of 1 MiB holds some 15,000 bcrypt users).
inline constexpr size_t kMaxUsersFileBytes = size_t{1} << 20;

// crypt(3) calls that may run at once: on a small node a slow hash is a CPU attack.
inline constexpr size_t kMaxConcurrentVerifications = 2;
// Requests that may wait for a verification slot; one more is answered `busy` at once. At the
// cost caps, the last of them waits about a second.
inline constexpr size_t kMaxWaitingVerifications = 4;

// The answer to a request's Authorization header.
enum class AuthVerdict {
  allowed,  // a user of the file with that user's password: serve the request
  denied,   // no or malformed credentials, an unknown user, a wrong password: 401 with the
            // `WWW-Authenticate: Basic` challenge
  busy,     // the credentials needed a verification and every slot and queue place was taken:
            // 503 with `Retry-After: 1`; the client should try again, nothing is known yet
};

class BasicAuth {
 public:
  // Reads a users file: one "user:hash" per line, the hash in crypt(3) form of a strong method
  // (bcrypt "$2b$"/"$2y$"/"$2a$" as `htpasswd -B` writes, yescrypt "$y$", sha512crypt "$6$"),
  // well formed and within the cost caps above; blank lines and lines starting with '#' are
  // skipped. The file must be a regular file of at most kMaxUsersFileBytes (a FIFO is refused,
  // never waited on). The error names the file, and the line and user of a bad hash.
  static Result<BasicAuth> load(const std::string& path);
  static Result<BasicAuth> parse(std::string_view text, const std::string& origin);

  // Whether an Authorization header value ("Basic base64(user:password)") names a user of the
  // file with that user's password (see AuthVerdict). Thread-safe; call it from each server
  // thread as the request comes. It blocks while a verification runs (at the caps, about half
  // a second) or waits for a slot (about a second at most); it never blocks on a remembered
  // password nor on a header that needs no verification.
  [[nodiscard]] AuthVerdict verify(std::string_view authorization) const;
  [[nodiscard]] size_t users() const { return hashes_.size(); }

  // crypt(3) verifications run so far, by all copies of this object: what makes the equal work
  // of unknown users and the slots testable without timing.
  [[nodiscard]] uint64_t verifications() const;
  // Verifications running now, and requests waiting for a slot.
  [[nodiscard]] size_t verifying() const;
  [[nodiscard]] size_t waiting() const;
  // For tests: called in each verification slot, before crypt(3) (e.g. to hold the slot).
  // Set it before the object is shared between threads.
  void set_verification_hook(std::function<void()> hook);

 private:
  struct State;
  std::map<std::string, std::string> hashes_;
  std::string dummy_;  // what an unknown user's password is verified against: the first user's hash
  std::shared_ptr<State> state_;
};

struct TlsFiles {
  std::string cert;  // PEM: the certificate, then any intermediates
  std::string key;   // PEM: its private key
};

// The contents of TlsFiles, as checked: what a server that takes PEM from memory should be given,
// so that what it serves is what was checked (no second read of a file that may have changed).
struct TlsPem {
  std::string cert;
  std::string key;
};

// Each file must be a regular file of at most this size.
inline constexpr size_t kMaxTlsFileBytes = size_t{1} << 20;

// Checks that both files are given, then loads them (load_tls_files): what the server serves.
Result<TlsPem> check_tls(const TlsFiles& files);
// The certificate and key read (regular files of at most kMaxTlsFileBytes), parsed and checked
// to belong together. An encrypted key is refused, never prompted for. The error names the file
// at fault: "TLS: cannot use the certificate X: ...", "TLS: cannot use the private key Y: ...",
// "TLS: the private key Y is encrypted; give an unencrypted key ...", "TLS: the key Y does not
// belong to the certificate X: ...".
Result<TlsPem> load_tls_files(const TlsFiles& files);
Status check_tls_files(const TlsFiles& files);

}  // namespace ipctrace
