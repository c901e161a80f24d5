// The agent's TLS helpers without root or a server: certificates and keys made here with OpenSSL,
// checked as the agent checks them at start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
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
  EXPECT_EQ(check_tls({"", key_}).error().message(), "TLS needs both --tls-cert and --tls-key");
}

// The files are read only if they are regular files of at most 1 MiB: a FIFO is not waited on,
// a device not read without end.
TEST_F(TlsFilesTest, OnlyRegularFilesOfBoundedSize) {
  auto message = [](const TlsFiles& f) {
    const Status st = check_tls_files(f);
    return st.ok() ? std::string("(accepted)") : st.error().message();
  };
  const std::string fifo = dir_ + "/fifo.pem";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(message({fifo, key_}), "TLS: cannot use the certificate " + fifo + ": not a regular file");
  EXPECT_EQ(message({cert_, fifo}), "TLS: cannot use the private key " + fifo + ": not a regular file");
  EXPECT_EQ(message({cert_, "/dev/zero"}), "TLS: cannot use the private key /dev/zero: not a regular file");
  EXPECT_EQ(message({dir_ + "/missing.pem", key_}),
            "TLS: cannot use the certificate " + dir_ + "/missing.pem: No such file or directory");
  // A certificate followed by a megabyte of padding.
  const std::string big = dir_ + "/big.pem";
  std::filesystem::copy_file(cert_, big);
  ASSERT_EQ(truncate(big.c_str(), static_cast<off_t>(kMaxTlsFileBytes) + 1), 0);
  EXPECT_EQ(message({big, key_}), "TLS: cannot use the certificate " + big + ": larger than 1048576 bytes");
  // What is loaded is what was checked, byte for byte.
  auto pem = load_tls_files({cert_, key_});
  ASSERT_TRUE(pem.ok()) << pem.error().message();
  std::ifstream cert_in(cert_);
  std::ifstream key_in(key_);
  EXPECT_EQ(pem->cert, std::string(std::istreambuf_iterator<char>(cert_in), {}));
  EXPECT_EQ(pem->key, std::string(std::istreambuf_iterator<char>(key_in), {}));
}

// A certificate file may carry the chain after the certificate: each is loaded, and a bad block
// after the first is an error.
TEST_F(TlsFilesTest, TheChainAfterTheCertificate) {
  const std::string chain = dir_ + "/chain.pem";
  {
    std::ofstream out(chain);
    std::ifstream in(cert_);
    const std::string one(std::istreambuf_iterator<char>(in), {});
    out << one << one;
  }
  EXPECT_TRUE(check_tls_files({chain, key_}).ok());
  std::ofstream(chain, std::ios::app) << "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
  const Status bad = check_tls_files({chain, key_});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), StartsWith("TLS: cannot use the certificate " + chain + ": "));
}

// An encrypted private key is refused with one line, never prompted for: OpenSSL's default would
// ask for the passphrase on the terminal (or read stdin) and the agent would hang at start.
TEST_F(TlsFilesTest, AnEncryptedKeyIsRefusedNotPromptedFor) {
  // PKCS#8 ("BEGIN ENCRYPTED PRIVATE KEY"), as `openssl genpkey -aes256` writes it...
  const std::string pkcs8 = dir_ + "/encrypted.pem";
  const test::ProcessResult made =
      test::run_process({"/usr/bin/openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-aes256", "-pass", "pass:x", "-out", pkcs8},
                        std::chrono::seconds(30));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  // ...and the traditional form ("Proc-Type: 4,ENCRYPTED"), of the certificate's own key.
  const std::string traditional = dir_ + "/traditional.pem";
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_file(key_.c_str(), "r"), BIO_free);
    Key key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    ASSERT_TRUE(key);
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new_file(traditional.c_str(), "w"), BIO_free);
    char pass[] = "x";
    ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(out.get(), key.get(), EVP_aes_256_cbc(),
                                                   reinterpret_cast<unsigned char*>(pass), 1, nullptr, nullptr),
              1);
  }
  for (const std::string& key : {pkcs8, traditional}) {
    const Status st = check_tls_files({cert_, key});
    ASSERT_FALSE(st.ok()) << key;
    std::string expected = "TLS: the private key ";
    expected += key;
    expected += " is encrypted; give an unencrypted key (`openssl pkey -in ";
    expected += key;
    expected += " -out KEY`), readable only by the agent";
    EXPECT_EQ(st.error().message(), expected);
  }
  // The agent itself: one line and exit 2 at start, within the time limit, with stdin open.
  const test::ProcessResult agent = test::run_process(
      {test::ipctrace_binary(), "agent", "--listen", "127.0.0.1:1", "--tls-cert", cert_, "--tls-key", traditional},
      std::chrono::seconds(20));
  EXPECT_FALSE(agent.timed_out);
  EXPECT_EQ(agent.exit_code, 2) << agent.err;
  EXPECT_THAT(agent.err, HasSubstr("agent: TLS: the private key " + traditional + " is encrypted; give an "));
  EXPECT_EQ(test::count_lines(agent.err), 1) << agent.err;
  EXPECT_THAT(agent.err, ::testing::Not(HasSubstr("pass phrase")));
}

}  // namespace
}  // namespace ipctrace
