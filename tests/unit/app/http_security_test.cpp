// The agent's basic authentication: the users file and the Authorization header.
#include "app/agent/http_security.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

namespace ipctrace {
namespace {

// A fresh hash of `password` by `prefix`'s method ("$2b$": bcrypt, "$6$": sha512crypt, "$y$": yescrypt).
std::string hash(const std::string& password, const char* prefix) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE] = {};
  // The lowest cost each method allows: the tests check the logic, not the method's strength.
  if (crypt_gensalt_rn(prefix, 0, nullptr, 0, salt, sizeof(salt)) == nullptr) return {};
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), salt, &data, sizeof(data));
  return out != nullptr ? out : "";
}

// "Basic " + base64(text), as a client sends it.
std::string basic(const std::string& text) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "Basic ";
  size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(text[i]) << 16U) | (static_cast<unsigned char>(text[i + 1]) << 8U) |
                       static_cast<unsigned char>(text[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> static_cast<unsigned>(s)) & 63U];
  }
  if (text.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(text[i]) << 16U;
    out += kAlphabet[(v >> 18U) & 63U];
    out += kAlphabet[(v >> 12U) & 63U];
    out += "==";
  } else if (text.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(text[i]) << 16U) | (static_cast<unsigned char>(text[i + 1]) << 8U);
    out += kAlphabet[(v >> 18U) & 63U];
    out += kAlphabet[(v >> 12U) & 63U];
    out += kAlphabet[(v >> 6U) & 63U];
    out += '=';
  }
  return out;
}

TEST(BasicAuth, ChecksEveryStrongMethodAndOnlyTheRightPassword) {
  const std::string text = "# operators\n\nalice:" + hash("wonderland", "$2b$") + "\nbob:" + hash("builder", "$6$") +
                           "\r\n  carol:" + hash("x:y", "$y$") + "  \n";
  auto auth = BasicAuth::parse(text, "users");
  ASSERT_TRUE(auth) << auth.error().message();
  EXPECT_EQ(auth->users(), 3U);
  constexpr AuthVerdict allowed = AuthVerdict::allowed;
  constexpr AuthVerdict denied = AuthVerdict::denied;
  EXPECT_EQ(auth->verify(basic("alice:wonderland")), allowed);
  EXPECT_EQ(auth->verify(basic("alice:wonderland")), allowed);  // remembered: same answer
  EXPECT_EQ(auth->verify(basic("bob:builder")), allowed);
  EXPECT_EQ(auth->verify(basic("carol:x:y")), allowed);                         // a password may hold colons
  EXPECT_EQ(auth->verify("basic " + basic("bob:builder").substr(6)), allowed);  // the scheme is case-insensitive
  EXPECT_EQ(auth->verify(basic("alice:Wonderland")), denied);
  EXPECT_EQ(auth->verify(basic("alice:wonderland ")), denied);
  EXPECT_EQ(auth->verify(basic("alice:")), denied);
  EXPECT_EQ(auth->verify(basic("bob:wonderland")), denied);  // another user's password
  EXPECT_EQ(auth->verify(basic("mallory:wonderland")), denied);
  EXPECT_EQ(auth->verify(basic("alicewonderland")), denied);
  EXPECT_EQ(auth->verify("Bearer abc"), denied);
  EXPECT_EQ(auth->verify("Basic"), denied);
  EXPECT_EQ(auth->verify("Basic !!!!"), denied);
  EXPECT_EQ(auth->verify("Basic YWxpY2U6d29uZGVybGFuZA"), denied);  // unpadded
  EXPECT_EQ(auth->verify(""), denied);
  // A wrong password after a right one is still wrong (the memory holds the right one only).
  EXPECT_EQ(auth->verify(basic("alice:wonderlanD")), denied);
  // crypt(3) stops at a NUL: "wonderland\0junk" must not pass for "wonderland".
  EXPECT_EQ(auth->verify(basic(std::string("carol:x:y\0junk", 14))), denied);
  // The transitional boolean form.
  EXPECT_EQ(auth->verify(basic("alice:wonderland")), AuthVerdict::allowed);
  EXPECT_EQ(auth->verify(basic("alice:Wonderland")), AuthVerdict::denied);
}

// An unknown user costs exactly what a known user with a wrong password costs: one crypt(3)
// verification (of the first user's hash), then a denial. Counted, not timed.
TEST(BasicAuth, AnUnknownUserCostsOneVerificationLikeAWrongPassword) {
  auto auth =
      BasicAuth::parse("alice:" + hash("wonderland", "$2b$") + "\nbob:" + hash("builder", "$6$") + "\n", "users");
  ASSERT_TRUE(auth) << auth.error().message();
  EXPECT_EQ(auth->verifications(), 0U);
  EXPECT_EQ(auth->verify(basic("alice:wrong")), AuthVerdict::denied);
  EXPECT_EQ(auth->verifications(), 1U);
  EXPECT_EQ(auth->verify(basic("mallory:wrong")), AuthVerdict::denied);
  EXPECT_EQ(auth->verifications(), 2U);
  // The first user's password under another name: verified against her hash, still denied.
  EXPECT_EQ(auth->verify(basic("mallory:wonderland")), AuthVerdict::denied);
  EXPECT_EQ(auth->verifications(), 3U);
  EXPECT_EQ(auth->verify(basic("alice:wonderland")), AuthVerdict::allowed);
  EXPECT_EQ(auth->verifications(), 4U);
  // Remembered: no verification.
  EXPECT_EQ(auth->verify(basic("alice:wonderland")), AuthVerdict::allowed);
  EXPECT_EQ(auth->verifications(), 4U);
  // Nothing to verify: no user named, a password longer than 128 bytes, or holding a NUL.
  EXPECT_EQ(auth->verify("Bearer abc"), AuthVerdict::denied);
  EXPECT_EQ(auth->verify(basic("alice:" + std::string(129, 'x'))), AuthVerdict::denied);
  EXPECT_EQ(auth->verify(basic("mallory:" + std::string(129, 'x'))), AuthVerdict::denied);
  EXPECT_EQ(auth->verify(basic(std::string("alice:wonderland\0x", 18))), AuthVerdict::denied);
  EXPECT_EQ(auth->verifications(), 4U);
  // 128 bytes is verified.
  EXPECT_EQ(auth->verify(basic("mallory:" + std::string(128, 'x'))), AuthVerdict::denied);
  EXPECT_EQ(auth->verifications(), 5U);
}

// At most two verifications at once and four waiting; the next request is `busy` at once. A
// remembered password and a header with nothing to verify take no slot.
TEST(BasicAuth, TwoVerificationsAtOnceFourWaitingThenBusy) {
  ASSERT_EQ(kMaxConcurrentVerifications, 2U);
  ASSERT_EQ(kMaxWaitingVerifications, 4U);
  auto auth = BasicAuth::parse("alice:" + hash("wonderland", "$2b$") + "\n", "users");
  ASSERT_TRUE(auth) << auth.error().message();
  ASSERT_EQ(auth->verify(basic("alice:wonderland")), AuthVerdict::allowed);  // remembered from now on
  ASSERT_EQ(auth->verifications(), 1U);

  std::counting_semaphore<16> entered(0);  // a verification has its slot
  std::counting_semaphore<16> gate(0);     // lets it go on
  auth->set_verification_hook([&] {
    entered.release();
    gate.acquire();
  });
  const BasicAuth& shared = *auth;
  std::vector<AuthVerdict> verdicts(6, AuthVerdict::allowed);
  std::vector<std::thread> threads;
  threads.reserve(verdicts.size());
  auto start = [&](size_t i, const std::string& credentials) {
    threads.emplace_back([&shared, &verdicts, i, header = basic(credentials)] { verdicts[i] = shared.verify(header); });
  };
  start(0, "alice:wrong");
  start(1, "mallory:x");
  entered.acquire();
  entered.acquire();
  EXPECT_EQ(shared.verifying(), 2U);
  for (size_t i = 2; i < 6; ++i) start(i, "alice:wrong" + std::to_string(i));
  // The four queue (they cannot enter: the two slots are held). Wait for them to be counted.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (shared.waiting() < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(shared.waiting(), 4U);
  EXPECT_EQ(shared.verifying(), 2U);

  // Full: the next ones are busy at once, whoever they name.
  EXPECT_EQ(shared.verify(basic("alice:wrong")), AuthVerdict::busy);
  EXPECT_EQ(shared.verify(basic("mallory:x")), AuthVerdict::busy);
  // No slot needed: a remembered password, nothing to verify.
  EXPECT_EQ(shared.verify(basic("alice:wonderland")), AuthVerdict::allowed);
  EXPECT_EQ(shared.verify("Bearer abc"), AuthVerdict::denied);
  EXPECT_EQ(shared.verifications(), 1U);

  // Let all six through, two at a time.
  gate.release(6);
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < verdicts.size(); ++i) EXPECT_EQ(verdicts[i], AuthVerdict::denied) << i;
  EXPECT_EQ(shared.verifications(), 7U);
  EXPECT_EQ(shared.verifying(), 0U);
  EXPECT_EQ(shared.waiting(), 0U);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(entered.try_acquire()) << i;  // the four waiters did verify
  EXPECT_FALSE(entered.try_acquire());
}

TEST(BasicAuth, BadFilesAreNamedWithTheLine) {
  const std::string bcrypt = hash("pw", "$2b$");
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"", "users: no users"},
      {"# only a comment\n", "users: no users"},
      {"alice\n", "users:1: expected user:hash"},
      {"alice:" + bcrypt + "\n:" + bcrypt + "\n", "users:2: expected user:hash"},
      {"alice:\n", "users:1: user 'alice' has no hash"},
      {"alice:hunter2\n", "users:1: the hash of user 'alice' is not in crypt(3) form"},
      {"\n\nbob:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n", "users:3: the hash of user 'bob' uses a weak legacy method"},
      {"bob:$9$nonsense\n", "users:1: the hash of user 'bob' is not a hash this system's crypt(3) knows"},
      {"alice:" + bcrypt + "\nalice:" + bcrypt + "\n", "users:2: user 'alice' appears twice"},
  };
  for (const Case& c : cases) {
    auto auth = BasicAuth::parse(c.text, "users");
    ASSERT_FALSE(auth) << c.text;
    EXPECT_EQ(auth.error().message().substr(0, c.message.size()), c.message) << auth.error().message();
  }
  auto missing = BasicAuth::load("/nonexistent/users");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "cannot read the users file /nonexistent/users: No such file or directory");
}

// A hash is checked for form and cost at load: the error names the file, the line and the user,
// and says what is wrong. (No hash here is ever computed: the costly ones would take seconds.)
TEST(BasicAuth, MalformedOrTooCostlyHashesAreRefusedAtLoad) {
  const std::string b53 = "abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234";  // salt and hash of bcrypt
  const std::string s86(86, 'a');                                                   // a sha512crypt sum
  const std::string y43(43, 'a');                                                   // a yescrypt sum
  const std::string ysalt = "abcdefghijklmnopqrstuv";
  const std::string good = "root:$2y$12$" + b53 + "\n";  // line 1 of each case: the maximum bcrypt cost
  struct Case {
    std::string line;  // line 2, user "eve"
    std::string message;
  };
  const std::string bad_bcrypt =
      "the hash of user 'eve' is not a well-formed bcrypt hash ($2y$CC$ and 53 characters "
      "of ./0-9A-Za-z)";
  const std::string bad_sha =
      "the hash of user 'eve' is not a well-formed sha512crypt hash ($6$[rounds=N$]SALT$ and 86 "
      "characters of ./0-9A-Za-z)";
  const std::string bad_yes =
      "the hash of user 'eve' is not a well-formed yescrypt hash ($y$PARAMS$SALT$ and 43 "
      "characters of ./0-9A-Za-z)";
  const Case cases[] = {
      {"$2y$05$short", bad_bcrypt},
      {"$2y$05$" + b53 + "x", bad_bcrypt},
      {"$2y$5$" + b53 + "x", bad_bcrypt},
      {"$2b$03$" + b53, bad_bcrypt},
      {"$2y$05$" + b53.substr(0, 52), bad_bcrypt},
      {"$2y$31$" + b53,
       "the hash of user 'eve' has bcrypt cost 31, above the maximum, 12 (make it with `htpasswd -nB "
       "-C 12`)"},
      {"$2b$13$" + b53,
       "the hash of user 'eve' has bcrypt cost 13, above the maximum, 12 (make it with `htpasswd -nB "
       "-C 12`)"},
      {"$6$rounds=250001$saltsalt$" + s86,
       "the hash of user 'eve' has 250001 sha512crypt rounds, above the maximum, "
       "250000"},
      {"$6$rounds=999999999$saltsalt$" + s86,
       "the hash of user 'eve' has 999999999 sha512crypt rounds, above the "
       "maximum, 250000"},
      {"$6$rounds=999$saltsalt$" + s86, bad_sha},
      {"$6$rounds=0100000$saltsalt$" + s86, bad_sha},
      {"$6$saltsaltsaltsalt1$" + s86, bad_sha},  // a salt of 17
      {"$6$saltsalt$" + s86.substr(1), bad_sha},
      {"$y$jBT$" + ysalt + "$" + y43,
       "the hash of user 'eve' needs 64 MiB of memory (yescrypt N=2^14, r=32), above "
       "the maximum, 32 MiB (mkpasswd -m yescrypt -R 6 at most)"},
      {"$y$jAT..$" + ysalt + "$" + y43,
       "the hash of user 'eve' has yescrypt parameters other than N and r (p, t, g, "
       "a ROM), which are not accepted"},
      {"$y$jAT$" + ysalt + "$" + y43 + "a", bad_yes},
      {"$y$jzzzzzzzzT$ab$aa", bad_yes},
      {"$7$abc",
       "the hash of user 'eve' uses a method the agent does not accept; use bcrypt ($2y$, $2b$), yescrypt "
       "($y$) or sha512crypt ($6$)"},
  };
  for (const Case& c : cases) {
    auto auth = BasicAuth::parse(good + "eve:" + c.line + "\n", "/etc/ipctrace/users");
    ASSERT_FALSE(auth) << c.line;
    EXPECT_EQ(auth.error().message(), "/etc/ipctrace/users:2: " + c.message) << c.line;
  }
  // At the caps: accepted.
  const std::vector<std::string> at_caps = {"$2b$12$" + b53,
                                            "$2a$04$" + b53,
                                            "$6$rounds=250000$saltsalt$" + s86,
                                            "$6$saltsalt$" + s86,
                                            "$y$jAT$" + ysalt + "$" + y43,
                                            "$y$j9T$" + ysalt + "$" + y43};
  for (const std::string& line : at_caps) {
    std::string text = good;
    text += "eve:";
    text += line;
    text += "\n";
    auto auth = BasicAuth::parse(text, "users");
    EXPECT_TRUE(auth) << line << ": " << auth.error().message();
  }
}

// The users file is read only if it is a regular file of at most 1 MiB: a FIFO is not waited on
// (nobody may ever write it), a device not read without end.
TEST(BasicAuth, TheUsersFileIsARegularFileOfBoundedSize) {
  const std::string dir = testing::TempDir();
  const std::string fifo = dir + "ipctrace-users-fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto from_fifo = BasicAuth::load(fifo);
  ASSERT_FALSE(from_fifo);
  EXPECT_EQ(from_fifo.error().message(), "cannot read the users file " + fifo + ": not a regular file");
  std::remove(fifo.c_str());

  auto from_zero = BasicAuth::load("/dev/zero");
  ASSERT_FALSE(from_zero);
  EXPECT_EQ(from_zero.error().message(), "cannot read the users file /dev/zero: not a regular file");

  const std::string big = dir + "ipctrace-users-big";
  {
    std::ofstream out(big);
    out << "alice:" << hash("wonderland", "$2b$") << "\n";
  }
  ASSERT_EQ(truncate(big.c_str(), static_cast<off_t>(kMaxUsersFileBytes) + 1), 0);
  auto too_big = BasicAuth::load(big);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().message(), "cannot read the users file " + big + ": larger than 1048576 bytes");
  // At the limit, a file of comments and one user is fine.
  {
    std::ofstream out(big, std::ios::trunc);
    const std::string line = "alice:" + hash("wonderland", "$2b$") + "\n";
    out << line << std::string(kMaxUsersFileBytes - line.size() - 1, '#') << "\n";
  }
  auto at_limit = BasicAuth::load(big);
  EXPECT_TRUE(at_limit) << at_limit.error().message();
  std::remove(big.c_str());
}

}  // namespace
}  // namespace ipctrace
