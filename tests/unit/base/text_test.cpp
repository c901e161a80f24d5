// Text a container chose, made safe to show: exact escapes, and no two inputs alike on output.
#include "base/text.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

using namespace ipctrace;

TEST(Visible, EscapesWhatATerminalWouldActOn) {
  EXPECT_EQ(visible("A\377B"), "A\\x{FF}B");
  EXPECT_EQ(visible("A\376B"), "A\\x{FE}B");  // another byte, another text
  EXPECT_EQ(visible("red\x1b[31m"), "red\\u{001B}[31m");
  EXPECT_EQ(visible("two\nlines\r\t"), "two\\u{000A}lines\\u{000D}\\u{0009}");
  EXPECT_EQ(visible("bell\a del\x7f"), "bell\\u{0007} del\\u{007F}");
  EXPECT_EQ(visible("\x1b]52;c;Y2xpcA==\a"), "\\u{001B}]52;c;Y2xpcA==\\u{0007}");  // OSC 52
  EXPECT_EQ(visible("csi\xc2\x9b"
                    "31m"),
            "csi\\u{009B}31m");  // C1 CSI
  EXPECT_EQ(visible("abc\xe2\x80\xae"
                    "cba"),
            "abc\\u{202E}cba");                         // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(visible("x\xe2\x81\xa6y"), "x\\u{2066}y");  // LEFT-TO-RIGHT ISOLATE
  EXPECT_EQ(visible(std::string("nul\0nul", 7)), "nul\\u{0000}nul");
}

TEST(Visible, KeepsPrintableTextAsItIs) {
  EXPECT_EQ(visible("web-client"), "web-client");
  EXPECT_EQ(visible("café ☕ 名前"), "café ☕ 名前");
  EXPECT_EQ(visible("dev-disk-by\\x2duuid-1234.device"), "dev-disk-by\\x2duuid-1234.device");  // systemd
  EXPECT_EQ(visible("C:\\dir"), "C:\\dir");
}

TEST(Visible, InvalidUtf8IsEscapedByteByByte) {
  EXPECT_EQ(visible("\xc3"), "\\x{C3}");                                   // a lead byte alone
  EXPECT_EQ(visible("\xc0\xaf"), "\\x{C0}\\x{AF}");                        // overlong '/'
  EXPECT_EQ(visible("\xed\xa0\x80"), "\\x{ED}\\x{A0}\\x{80}");             // a surrogate
  EXPECT_EQ(visible("\xf4\x90\x80\x80"), "\\x{F4}\\x{90}\\x{80}\\x{80}");  // past U+10FFFF
  EXPECT_EQ(visible("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");              // U+1F600 is valid
}

TEST(Visible, ABackslashThatWouldReadAsAnEscapeIsDoubled) {
  EXPECT_EQ(visible("\\x{FF}"), "\\\\x{FF}");  // the text, not the byte
  EXPECT_EQ(visible("\\u{001B}"), "\\\\u{001B}");
  EXPECT_EQ(visible("a\\\\b"), "a\\\\\\b");       // two backslashes: the first doubled
  EXPECT_EQ(visible("\\\x1b"), "\\\\\\u{001B}");  // a backslash before an escaped character
  EXPECT_EQ(visible("end\\"), "end\\");
  EXPECT_NE(visible("\\x{FF}"), visible("\xff"));
}

TEST(ValidUtf8, EscapesOnlyInvalidBytes) {
  EXPECT_EQ(valid_utf8("A\377B"), "A\\x{FF}B");
  EXPECT_EQ(valid_utf8("red\x1b[31m\n"), "red\x1b[31m\n");  // JSON and Prometheus escape these
  EXPECT_EQ(valid_utf8("\xe2\x80\xae"), "\xe2\x80\xae");
  EXPECT_EQ(valid_utf8("\\x{41}\xff"), "\\\\x{41}\\x{FF}");
  EXPECT_TRUE(is_valid_utf8(valid_utf8("\xff\xfe\xc3(")));
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

// Random strings over the bytes that matter (backslashes, the escapes' letters and braces,
// invalid and partial UTF-8, controls): both encodings give valid UTF-8, visible() no control
// byte, and unescape() gives back the input, so no two inputs share an output.
TEST(Escaping, IsReversibleOnRandomBytes) {
  static constexpr char kBytes[] = "\\xu{}0F1aA \n\x1b\x7f\xc2\x9b\xc3\xa9\xe2\x80\xae\xff\xed\xa0\xf0\x9f\x98\x80";
  const std::string alphabet(kBytes, sizeof(kBytes) - 1);
  std::mt19937 rng(20261201);
  std::set<std::string> inputs;
  std::set<std::string> shown;
  for (int n = 0; n < 20000; ++n) {
    std::string s;
    const size_t len = rng() % 12;
    for (size_t i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    const std::string v = visible(s);
    const std::string u = valid_utf8(s);
    ASSERT_TRUE(is_valid_utf8(v)) << s;
    ASSERT_TRUE(is_valid_utf8(u)) << s;
    for (const char c : v) ASSERT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << s;
    ASSERT_EQ(unescape(v), s) << v;
    ASSERT_EQ(unescape(u), s) << u;
    if (inputs.insert(s).second) {
      ASSERT_TRUE(shown.insert(v).second) << "two inputs show as " << v;
    }
  }
}

TEST(Unescape, RefusesWhatNoEncodingMakes) {
  EXPECT_EQ(unescape("\\x{G1}"), std::nullopt);
  EXPECT_EQ(unescape("\\x{1}"), std::nullopt);
  EXPECT_EQ(unescape("\\u{D800}"), std::nullopt);
  EXPECT_EQ(unescape("\\u{110000}"), std::nullopt);
  EXPECT_EQ(unescape("\xff"), std::nullopt);
  EXPECT_EQ(unescape("plain \\ text"), "plain \\ text");
}

TEST(Bounded, CutsOnACharacterBoundaryAndKeepsLongNamesApart) {
  EXPECT_EQ(bounded("short", 256), "short");
  std::string long_a;
  for (int i = 0; i < 1000000; ++i) long_a += "é";
  std::string long_b = long_a;
  long_b.back() = '\xa8';  // "è" at the very end
  const std::string a = bounded(long_a, 256);
  const std::string b = bounded(long_b, 256);
  EXPECT_LE(a.size(), 256U);
  EXPECT_TRUE(is_valid_utf8(a));
  EXPECT_TRUE(a.starts_with("éé"));
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find("…#"), a.size() - 3 - 1 - 16);
}
