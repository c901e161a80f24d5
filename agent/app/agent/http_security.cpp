#include "app/agent/http_security.h"

#include <crypt.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

namespace ipctrace {

struct BasicAuth::Cache {
  std::mutex mu;
  std::map<std::string, std::array<unsigned char, 32>> verified;  // user -> SHA-256 of the password
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

// A PEM private key that OpenSSL can read (whatever certificate it belongs to).
bool readable_private_key(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!bio) return false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  ERR_clear_error();
  return key != nullptr;
}

}  // namespace

Result<BasicAuth> BasicAuth::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::from_errno(fmt::format("cannot read the users file {}", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error::from_errno(fmt::format("cannot read the users file {}", path));
  return parse(text.str(), path);
}

Result<BasicAuth> BasicAuth::parse(std::string_view text, const std::string& origin) {
  BasicAuth auth;
  auth.cache_ = std::make_shared<Cache>();
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
    if (!auth.hashes_.emplace(user, hash).second) {
      return Error::msg(fmt::format("{}:{}: user '{}' appears twice", origin, line_no, user));
    }
  }
  if (auth.hashes_.empty()) return Error::msg(fmt::format("{}: no users", origin));
  return auth;
}

bool BasicAuth::check(std::string_view authorization) const {
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "Basic ";
  if (authorization.size() <= kScheme.size()) return false;
  // The scheme is case-insensitive (RFC 7617).
  for (size_t i = 0; i + 1 < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != std::tolower(kScheme[i])) return false;
  }
  const auto decoded = base64_decode(trim(authorization.substr(kScheme.size())));
  if (!decoded) return false;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string user = decoded->substr(0, colon);
  const std::string password = decoded->substr(colon + 1);
  const auto it = hashes_.find(user);
  if (it == hashes_.end()) return false;

  const std::array<unsigned char, 32> digest = sha256(password);
  {
    std::lock_guard<std::mutex> lock(cache_->mu);
    const auto seen = cache_->verified.find(user);
    if (seen != cache_->verified.end() && CRYPTO_memcmp(seen->second.data(), digest.data(), digest.size()) == 0) {
      return true;
    }
  }
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), it->second.c_str(), &data, sizeof(data));
  const bool ok = out != nullptr && std::strlen(out) == it->second.size() &&
                  CRYPTO_memcmp(out, it->second.data(), it->second.size()) == 0;
  if (ok) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    cache_->verified[user] = digest;
  }
  return ok;
}

Status check_tls(const TlsFiles& files) {
  if (files.cert.empty() || files.key.empty()) return Error::msg("TLS needs both --tls-cert and --tls-key");
  return check_tls_files(files);
}

Status check_tls_files(const TlsFiles& files) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return Error::msg("TLS: " + openssl_error());
  if (configure_tls_context(ctx.get(), files) != 1) {
    // configure_tls_context leaves the reason in OpenSSL's error queue; say which file.
    const std::string why = openssl_error();
    if (SSL_CTX_get0_certificate(ctx.get()) == nullptr) {
      return Error::msg(fmt::format("TLS: cannot use the certificate {}: {}", files.cert, why));
    }
    // OpenSSL refuses a key that does not match the certificate as it loads it: read the key
    // alone to tell a bad key file from a key of another certificate.
    if (!readable_private_key(files.key)) {
      return Error::msg(fmt::format("TLS: cannot use the private key {}: {}", files.key, why));
    }
    return Error::msg(
        fmt::format("TLS: the key {} does not belong to the certificate {}: {}", files.key, files.cert, why));
  }
  return Ok{};
}

int configure_tls_context(void* ssl_ctx, const TlsFiles& files) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return -1;
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) return -1;
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) return -1;
  if (SSL_CTX_check_private_key(ctx) != 1) return -1;
  return 1;
}

}  // namespace ipctrace
