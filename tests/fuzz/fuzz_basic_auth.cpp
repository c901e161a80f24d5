// The basic-auth users file (`--basic-auth-file`) and the Authorization header any client sends.
// The file is taken or refused with a message naming the line; a header is checked against a
// fixed users file without crashing, whatever its bytes.
#include <string>

#include "app/agent/http_security.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ipctrace;
  const std::string_view text = fuzz::as_text(data, size);
  auto parsed = BasicAuth::parse(text, "users");
  if (!parsed) fuzz::require(parsed.error().message().rfind("users", 0) == 0, "an error names the file");
  // The cheapest strong hash crypt(3) takes (sha512crypt, 1000 rounds: "secret"), so that the
  // fuzzer spends its time on the header, not in the hash.
  static const auto fixed = BasicAuth::parse(
      "alice:$6$rounds=1000$saltsalt$LAV5VE5Y7w1d73x1mFNspYWUpazfmwv2SoepNXNKJ/otop/Zok96Hr8Q13LEv0DRY/x8v0/"
      "crpIjl8NJSAqXV/\n",
      "fixed");
  fuzz::require(fixed.ok(), "the fixed users file is taken");
  (void)fixed->verify(text);
  return 0;
}
