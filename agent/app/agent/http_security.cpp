#include "app/agent/http_security.h"

#include <crypt.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <vector>

#include "base/files.h"

namespace ipctrace {

struct BasicAuth::State {
  std::mutex mu;
  std::condition_variable freed;
  size_t verifying = 0;      // crypt(3) calls running
  size_t waiting = 0;        // requests queued for a slot
  uint64_t next_ticket = 0;  // the queue is first come, first served: the next waiter's ticket,
  uint64_t serving = 0;      // and the ticket whose turn comes next
  std::atomic<uint64_t> verifications{0};
  std::function<void()> hook;
  std::map<std::string, std::array<unsigned char, 32>> verified;  // user -> SHA-256 of the password

  // Takes a verification slot: at once if one is free and nobody waits, else after the waiters
  // before it, if the queue has room. false: busy.
  bool acquire() {
    std::unique_lock<std::mutex> lock(mu);
    if (verifying < kMaxConcurrentVerifications && waiting == 0) {
      ++verifying;
      return true;
    }
    if (waiting >= kMaxWaitingVerifications) return false;
    ++waiting;
    const uint64_t ticket = next_ticket++;
    freed.wait(lock, [&] { return verifying < kMaxConcurrentVerifications && serving == ticket; });
    ++serving;
    --waiting;
    ++verifying;
    lock.unlock();
    freed.notify_all();  // the next in line may find a slot too
    return true;
  }
  void release() {
    {
      const std::lock_guard<std::mutex> lock(mu);
      --verifying;
    }
    freed.notify_all();
  }
};

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the bytes the padding stands for.
  size_t len = static_cast<size_t>(n);
  if (in.back() == '=') --len;
  if (in.size() >= 2 && in[in.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  std::array<char, 256> buf{};
  ERR_error_string_n(e, buf.data(), buf.size());
  ERR_clear_error();
  return buf.data();
}

// Why read_file(path) failed, without the path: "No such file or directory", "not a regular
// file", "larger than 1048576 bytes".
std::string read_problem(const Error& e, const std::string& path) {
  if (e.code() != 0) return std::strerror(e.code());
  std::string_view why = e.context();
  const std::string prefix = path + " is ";
  if (why.starts_with(prefix)) why.remove_prefix(prefix.size());
  return std::string(why);
}

// ---------------------------------------------------------------------------------------------
// Hashes, checked for form and cost before any is used.

constexpr std::string_view kCrypt64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int crypt64_value(char c) {
  const size_t at = kCrypt64.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

bool all_crypt64(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return crypt64_value(c) >= 0; });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// bcrypt, as htpasswd -B writes it: "$2y$" (or "$2b$", "$2a$"), two digits of cost (4-31), "$",
// then 22 characters of salt and 31 of hash from ./0-9A-Za-z: 60 in all.
std::string bcrypt_problem(std::string_view hash) {
  constexpr std::string_view kForm = "is not a well-formed bcrypt hash ($2y$CC$ and 53 characters of ./0-9A-Za-z)";
  if (hash.size() != 60 || !all_digits(hash.substr(4, 2)) || hash[6] != '$' || !all_crypt64(hash.substr(7))) {
    return std::string(kForm);
  }
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return std::string(kForm);
  if (cost > kMaxBcryptCost) {
    return fmt::format("has bcrypt cost {}, above the maximum, {} (make it with `htpasswd -nB -C {}`)", cost,
                       kMaxBcryptCost, kMaxBcryptCost);
  }
  return {};
}

// sha512crypt: "$6$", optionally "rounds=N$" (1,000 to 999,999,999), 1 to 16 characters of salt
// (printable, no '$' or ':'), "$", 86 characters of hash from ./0-9A-Za-z.
std::string sha512_problem(std::string_view hash) {
  constexpr std::string_view kForm =
      "is not a well-formed sha512crypt hash ($6$[rounds=N$]SALT$ and 86 characters of ./0-9A-Za-z)";
  std::string_view rest = hash.substr(3);
  uint64_t rounds = 5000;
  if (rest.starts_with("rounds=")) {
    rest.remove_prefix(7);
    const size_t end = rest.find('$');
    const std::string_view digits = rest.substr(0, end);
    if (end == std::string_view::npos || !all_digits(digits) || digits.size() > 9 || digits.front() == '0') {
      return std::string(kForm);
    }
    rounds = std::stoull(std::string(digits));
    if (rounds < 1000) return std::string(kForm);
    rest.remove_prefix(end + 1);
  }
  const size_t dollar = rest.find('$');
  if (dollar == std::string_view::npos || dollar == 0 || dollar > 16) return std::string(kForm);
  const std::string_view salt = rest.substr(0, dollar);
  if (!std::all_of(salt.begin(), salt.end(), [](char c) { return c > ' ' && c < 0x7f && c != ':'; })) {
    return std::string(kForm);
  }
  const std::string_view sum = rest.substr(dollar + 1);
  if (sum.size() != 86 || !all_crypt64(sum)) return std::string(kForm);
  if (rounds > kMaxSha512Rounds) {
    return fmt::format("has {} sha512crypt rounds, above the maximum, {}", rounds, kMaxSha512Rounds);
  }
  return {};
}

// One of yescrypt's variable-length numbers in its parameter string: the first character's
// place in ./0-9A-Za-z says how many characters follow (the inverse of libxcrypt's
// encode64_uint32, alg-yescrypt-common.c). Consumes it from `s`.
std::optional<uint64_t> yescrypt_number(std::string_view& s, uint64_t min) {
  if (s.empty()) return std::nullopt;
  const int first = crypt64_value(s.front());
  if (first < 0) return std::nullopt;
  const auto c = static_cast<uint64_t>(first);
  uint64_t value = min;
  uint64_t start = 0;
  uint64_t end = 47;
  size_t chars = 1;
  unsigned bits = 0;
  while (c > end) {
    value += (end + 1 - start) << bits;
    start = end + 1;
    end = start + (62 - end) / 2;
    ++chars;
    bits += 6;
  }
  value += (c - start) << bits;
  if (s.size() < chars) return std::nullopt;
  for (size_t i = 1; i < chars; ++i) {
    const int d = crypt64_value(s[i]);
    if (d < 0) return std::nullopt;
    bits -= 6;
    value += static_cast<uint64_t>(d) << bits;
  }
  s.remove_prefix(chars);
  return value;
}

// yescrypt: "$y$", the flavor, log2(N) and r, "$", the salt (up to 86 characters), "$", 43
// characters of hash; all from ./0-9A-Za-z. Its memory is 128 * N * r bytes.
std::string yescrypt_problem(std::string_view hash) {
  constexpr std::string_view kForm =
      "is not a well-formed yescrypt hash ($y$PARAMS$SALT$ and 43 characters of ./0-9A-Za-z)";
  std::string_view rest = hash.substr(3);
  const auto flavor = yescrypt_number(rest, 0);
  const auto n_log2 = yescrypt_number(rest, 1);
  const auto r = yescrypt_number(rest, 1);
  if (!flavor || !n_log2 || !r || rest.empty()) return std::string(kForm);
  if (rest.front() != '$') {
    return "has yescrypt parameters other than N and r (p, t, g, a ROM), which are not accepted";
  }
  rest.remove_prefix(1);
  const size_t dollar = rest.find('$');
  if (dollar == std::string_view::npos || dollar == 0 || dollar > 86 || !all_crypt64(rest.substr(0, dollar))) {
    return std::string(kForm);
  }
  const std::string_view sum = rest.substr(dollar + 1);
  if (sum.size() != 43 || !all_crypt64(sum)) return std::string(kForm);
  if (*n_log2 > 63 || *r > UINT32_MAX) return std::string(kForm);  // as libxcrypt's own check
  const double mib = std::ldexp(static_cast<double>(*r), static_cast<int>(*n_log2) + 7 - 20);
  if (mib > static_cast<double>(kMaxYescryptBytes >> 20)) {
    return fmt::format(
        "needs {:.0f} MiB of memory (yescrypt N=2^{}, r={}), above the maximum, {} MiB (mkpasswd -m yescrypt -R 6 at "
        "most)",
        mib, *n_log2, *r, kMaxYescryptBytes >> 20);
  }
  return {};
}

// Why `hash` cannot be used, or "" when it can: a method of the accepted three, well formed,
// within the cost caps.
std::string hash_problem(std::string_view hash) {
  if (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) return bcrypt_problem(hash);
  if (hash.starts_with("$6$")) return sha512_problem(hash);
  if (hash.starts_with("$y$")) return yescrypt_problem(hash);
  return "uses a method the agent does not accept; use bcrypt ($2y$, $2b$), yescrypt ($y$) or sha512crypt ($6$)";
}

// ---------------------------------------------------------------------------------------------
// The Authorization header.

struct Credentials {
  std::string user;
  std::string password;
};

// "Basic base64(user:password)"; nullopt for anything else.
std::optional<Credentials> basic_credentials(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "Basic ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  // The scheme is case-insensitive (RFC 7617).
  for (size_t i = 0; i + 1 < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != std::tolower(kScheme[i])) return std::nullopt;
  }
  std::optional<std::string> decoded = base64_decode(trim(authorization.substr(kScheme.size())));
  if (!decoded) return std::nullopt;
  std::string& text = *decoded;
  const size_t colon = text.find(':');
  std::optional<Credentials> c;
  if (colon != std::string::npos) c = Credentials{text.substr(0, colon), text.substr(colon + 1)};
  OPENSSL_cleanse(text.data(), text.size());
  return c;
}

// ---------------------------------------------------------------------------------------------
// Private keys: never a passphrase prompt.

// OpenSSL's passphrase callback: there is no passphrase to give (the default would ask on the
// terminal and block the start). Notes that one was asked for, in the bool `asked`.
int refuse_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

Bio memory_bio(const std::string& text) {
  return {BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free};
}

}  // namespace

Result<BasicAuth> BasicAuth::load(const std::string& path) {
  auto text = read_file(path, kMaxUsersFileBytes);
  if (!text) {
    const std::string what = "cannot read the users file " + path;
    if (text.error().code() != 0) return Error(text.error().code(), what);
    return Error::msg(what + ": " + read_problem(text.error(), path));
  }
  return parse(*text, path);
}

Result<BasicAuth> BasicAuth::parse(std::string_view text, const std::string& origin) {
  BasicAuth auth;
  auth.state_ = std::make_shared<State>();
  size_t line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = trim(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Error::msg(fmt::format("{}:{}: expected user:hash", origin, line_no));
    }
    const std::string user(line.substr(0, colon));
    const std::string hash(trim(line.substr(colon + 1)));
    if (hash.empty()) return Error::msg(fmt::format("{}:{}: user '{}' has no hash", origin, line_no, user));
    if (hash.front() != '$') {
      return Error::msg(fmt::format(
          "{}:{}: the hash of user '{}' is not in crypt(3) form ('$id$...'); plain passwords are not accepted "
          "(make one with `htpasswd -nB {}` or `mkpasswd -m bcrypt`)",
          origin, line_no, user, user));
    }
    switch (crypt_checksalt(hash.c_str())) {
      case CRYPT_SALT_OK:
        break;
      case CRYPT_SALT_METHOD_LEGACY:
        return Error::msg(
            fmt::format("{}:{}: the hash of user '{}' uses a weak legacy method; use bcrypt, yescrypt or sha512crypt",
                        origin, line_no, user));
      default:
        return Error::msg(fmt::format("{}:{}: the hash of user '{}' is not a hash this system's crypt(3) knows", origin,
                                      line_no, user));
    }
    if (const std::string problem = hash_problem(hash); !problem.empty()) {
      return Error::msg(fmt::format("{}:{}: the hash of user '{}' {}", origin, line_no, user, problem));
    }
    if (!auth.hashes_.emplace(user, hash).second) {
      return Error::msg(fmt::format("{}:{}: user '{}' appears twice", origin, line_no, user));
    }
    if (auth.dummy_.empty()) auth.dummy_ = hash;
  }
  if (auth.hashes_.empty()) return Error::msg(fmt::format("{}: no users", origin));
  return auth;
}

AuthVerdict BasicAuth::verify(std::string_view authorization) const {
  std::optional<Credentials> creds = basic_credentials(authorization);
  if (!creds) return AuthVerdict::denied;
  struct Erase {
    std::string& s;
    ~Erase() { OPENSSL_cleanse(s.data(), s.size()); }
  } erase{creds->password};
  const std::string& password = creds->password;
  if (password.size() > kMaxPasswordBytes || password.find('\0') != std::string::npos) return AuthVerdict::denied;
  const auto it = hashes_.find(creds->user);
  const bool known = it != hashes_.end();
  State& s = *state_;
  const std::array<unsigned char, 32> digest = sha256(password);
  if (known) {
    const std::lock_guard<std::mutex> lock(s.mu);
    const auto seen = s.verified.find(creds->user);
    if (seen != s.verified.end() && CRYPTO_memcmp(seen->second.data(), digest.data(), digest.size()) == 0) {
      return AuthVerdict::allowed;
    }
  }
  bool match = false;
  {
    if (!s.acquire()) return AuthVerdict::busy;
    struct Release {
      State& s;
      ~Release() { s.release(); }
    } release{s};
    if (s.hook) s.hook();
    // An unknown user's password is verified against the first user's hash, and then denied:
    // the same work as a wrong password, so the answer's time does not tell who exists.
    const std::string& hash = known ? it->second : dummy_;
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
    s.verifications.fetch_add(1, std::memory_order_relaxed);
    match = out != nullptr && std::strlen(out) == hash.size() && CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
    OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  }
  if (!known || !match) return AuthVerdict::denied;
  const std::lock_guard<std::mutex> lock(s.mu);
  s.verified[creds->user] = digest;
  return AuthVerdict::allowed;
}

uint64_t BasicAuth::verifications() const { return state_->verifications.load(std::memory_order_relaxed); }

size_t BasicAuth::verifying() const {
  const std::lock_guard<std::mutex> lock(state_->mu);
  return state_->verifying;
}

size_t BasicAuth::waiting() const {
  const std::lock_guard<std::mutex> lock(state_->mu);
  return state_->waiting;
}

void BasicAuth::set_verification_hook(std::function<void()> hook) { state_->hook = std::move(hook); }

Result<TlsPem> check_tls(const TlsFiles& files) {
  if (files.cert.empty() || files.key.empty()) return Error::msg("TLS needs both --tls-cert and --tls-key");
  return load_tls_files(files);
}

Result<TlsPem> load_tls_files(const TlsFiles& files) {
  const std::string cert_is = "TLS: cannot use the certificate " + files.cert + ": ";
  const std::string key_is = "TLS: cannot use the private key " + files.key + ": ";
  TlsPem pem;
  {
    auto text = read_file(files.cert, kMaxTlsFileBytes);
    if (!text) return Error::msg(cert_is + read_problem(text.error(), files.cert));
    pem.cert = std::move(text).value();
    text = read_file(files.key, kMaxTlsFileBytes);
    if (!text) return Error::msg(key_is + read_problem(text.error(), files.key));
    pem.key = std::move(text).value();
  }
  ERR_clear_error();
  bool asked = false;
  // The certificate, then the chain that follows it in the same file.
  Bio cert_bio = memory_bio(pem.cert);
  std::unique_ptr<X509, decltype(&X509_free)> leaf(
      cert_bio ? PEM_read_bio_X509_AUX(cert_bio.get(), nullptr, refuse_passphrase, &asked) : nullptr, X509_free);
  if (!leaf) return Error::msg(cert_is + openssl_error());
  std::vector<std::unique_ptr<X509, decltype(&X509_free)>> chain;
  while (X509* next = PEM_read_bio_X509(cert_bio.get(), nullptr, refuse_passphrase, &asked))
    chain.emplace_back(next, X509_free);
  // The loop ends at the end of the file (no more PEM lines: not an error) or at a bad block.
  if (const unsigned long e = ERR_peek_last_error();
      e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    return Error::msg(cert_is + openssl_error());
  }
  ERR_clear_error();

  Bio key_bio = memory_bio(pem.key);
  asked = false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, refuse_passphrase, &asked) : nullptr, EVP_PKEY_free);
  if (!key && asked) {
    ERR_clear_error();
    return Error::msg(fmt::format(
        "TLS: the private key {} is encrypted; give an unencrypted key (`openssl pkey -in {} -out KEY`), readable "
        "only by the agent",
        files.key, files.key));
  }
  if (!key) return Error::msg(key_is + openssl_error());

  // Into a server context, as a server will use them: the certificate (refused if its key is too
  // weak for OpenSSL's security level), the chain, and the key, which must be the certificate's.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return Error::msg("TLS: " + openssl_error());
  if (SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1) return Error::msg(cert_is + openssl_error());
  for (const auto& c : chain) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), c.get()) != 1) return Error::msg(cert_is + openssl_error());
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Error::msg(fmt::format("TLS: the key {} does not belong to the certificate {}: {}", files.key, files.cert,
                                  openssl_error()));
  }
  return pem;
}

Status check_tls_files(const TlsFiles& files) {
  auto pem = load_tls_files(files);
  if (!pem) return pem.error();
  OPENSSL_cleanse(pem->key.data(), pem->key.size());
  return Ok{};
}

}  // namespace ipctrace
