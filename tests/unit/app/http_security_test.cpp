// The agent's basic authentication: the users file and the Authorization header.
#include "app/agent/http_security.h"

#include <crypt.h>
#include <gtest/gtest.h>

#include <string>

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
  EXPECT_TRUE(auth->check(basic("alice:wonderland")));
  EXPECT_TRUE(auth->check(basic("alice:wonderland")));  // remembered: same answer
  EXPECT_TRUE(auth->check(basic("bob:builder")));
  EXPECT_TRUE(auth->check(basic("carol:x:y")));                         // a password may hold colons
  EXPECT_TRUE(auth->check("basic " + basic("bob:builder").substr(6)));  // the scheme is case-insensitive
  EXPECT_FALSE(auth->check(basic("alice:Wonderland")));
  EXPECT_FALSE(auth->check(basic("alice:wonderland ")));
  EXPECT_FALSE(auth->check(basic("alice:")));
  EXPECT_FALSE(auth->check(basic("bob:wonderland")));  // another user's password
  EXPECT_FALSE(auth->check(basic("mallory:wonderland")));
  EXPECT_FALSE(auth->check(basic("alicewonderland")));
  EXPECT_FALSE(auth->check("Bearer abc"));
  EXPECT_FALSE(auth->check("Basic"));
  EXPECT_FALSE(auth->check("Basic !!!!"));
  EXPECT_FALSE(auth->check("Basic YWxpY2U6d29uZGVybGFuZA"));  // unpadded
  EXPECT_FALSE(auth->check(""));
  // A wrong password after a right one is still wrong (the memory holds the right one only).
  EXPECT_FALSE(auth->check(basic("alice:wonderlanD")));
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

}  // namespace
}  // namespace ipctrace
