// The agent's TLS helpers without root or a server: certificates and keys made here with OpenSSL,
// checked as the agent checks them at start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "app/agent/http_security.h"
#include "subprocess.h"

namespace ipctrace {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Key make_key() { return {EVP_EC_gen("P-256"), EVP_PKEY_free}; }

// A self-signed certificate for `key`, valid for a day.
std::unique_ptr<X509, decltype(&X509_free)> make_cert(EVP_PKEY* key) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ipctrace-test"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  X509_sign(cert.get(), key, EVP_sha256());
  return cert;
}

class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "ipctrace-tls-XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    cert_ = dir_ + "/cert.pem";
    key_ = dir_ + "/key.pem";
    other_key_ = dir_ + "/other.pem";
    garbage_ = dir_ + "/garbage.pem";
    Key key = make_key();
    Key other = make_key();
    ASSERT_TRUE(key && other);
    auto cert = make_cert(key.get());
    write_pem(cert_, [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
    write_pem(key_, [&](FILE* f) { return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
    write_pem(other_key_,
              [&](FILE* f) { return PEM_write_PrivateKey(f, other.get(), nullptr, nullptr, 0, nullptr, nullptr); });
    std::ofstream(garbage_) << "not a PEM file\n";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  template <typename Write>
  void write_pem(const std::string& path, Write write) {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(write(f), 1);
    std::fclose(f);
  }

  std::string dir_;
  std::string cert_;
  std::string key_;
  std::string other_key_;
  std::string garbage_;
};

TEST_F(TlsFilesTest, APairThatBelongsTogetherIsAccepted) {
  EXPECT_TRUE(check_tls_files({cert_, key_}).ok()) << check_tls_files({cert_, key_}).error().message();
  // What the server's context gets: TLS 1.2 or later, the certificate and its key.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  ASSERT_EQ(configure_tls_context(ctx.get(), {cert_, key_}), 1);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_NE(SSL_CTX_get0_certificate(ctx.get()), nullptr);
}

TEST_F(TlsFilesTest, EachBadFileIsNamed) {
  auto message = [](const TlsFiles& f) {
    const Status st = check_tls_files(f);
    return st.ok() ? std::string("(accepted)") : st.error().message();
  };
  EXPECT_THAT(message({cert_, other_key_}),
              StartsWith("TLS: the key " + other_key_ + " does not belong to the certificate " + cert_ + ": "));
  EXPECT_THAT(message({garbage_, key_}), StartsWith("TLS: cannot use the certificate " + garbage_ + ": "));
  EXPECT_THAT(message({cert_, garbage_}), StartsWith("TLS: cannot use the private key " + garbage_ + ": "));
  EXPECT_THAT(message({dir_ + "/missing.pem", key_}), StartsWith("TLS: cannot use the certificate "));
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  EXPECT_EQ(configure_tls_context(ctx.get(), {cert_, other_key_}), -1);
  EXPECT_EQ(check_tls({"", key_}).error().message(), "TLS needs both --tls-cert and --tls-key");
}

}  // namespace
}  // namespace ipctrace
