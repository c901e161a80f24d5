// Bounded file reads, descriptor paths and path joining (base/files.h).
#include "base/files.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/fd.h"

namespace ipctrace {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "ipctrace-files-XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  [[nodiscard]] std::string file(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ReadFile, ReadsAWholeFileUpToItsLimit) {
  const TempDir dir;
  const std::string text(10000, 'x');
  auto whole = read_file(dir.file("a", text));
  ASSERT_TRUE(whole.ok()) << whole.error().message();
  EXPECT_EQ(*whole, text);
  auto exact = read_file(dir.file("b", text), 10000);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->size(), 10000U);
  auto over = read_file(dir.file("c", text), 9999);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().message(), dir.path() + "/c is larger than 9999 bytes");
  auto empty = read_file(dir.file("d", ""));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(ReadFile, ProcFilesThatSayZeroBytesAreReadWhole) {
  auto status = read_file("/proc/self/status");
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_THAT(*status, HasSubstr("\nCapEff:\t"));
}

TEST(ReadFile, MissingFilesFifosAndDirectoriesAreErrorsNotHangs) {
  const TempDir dir;
  auto missing = read_file(dir.path() + "/nothing");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(is_missing(missing.error()));
  EXPECT_EQ(missing.error().message(), "open " + dir.path() + "/nothing: No such file or directory");
  auto under_a_file = read_file(dir.file("plain", "x") + "/below");
  ASSERT_FALSE(under_a_file.ok());
  EXPECT_TRUE(is_missing(under_a_file.error()));  // ENOTDIR
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto from_fifo = read_file(fifo);  // no writer: a blocking open would never return
  ASSERT_FALSE(from_fifo.ok());
  EXPECT_EQ(from_fifo.error().message(), fifo + " is not a regular file");
  EXPECT_FALSE(is_missing(from_fifo.error()));
  auto a_dir = read_file(dir.path());
  ASSERT_FALSE(a_dir.ok());
  EXPECT_EQ(a_dir.error().message(), dir.path() + " is not a regular file");
}

TEST(FdPath, NamesTheOpenFile) {
  const TempDir dir;
  const std::string p = dir.file("named", "x");
  const Fd fd(open(p.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0);
  auto path = fd_path(fd.get());
  ASSERT_TRUE(path.ok()) << path.error().message();
  char real[PATH_MAX];
  ASSERT_NE(realpath(p.c_str(), real), nullptr);
  EXPECT_EQ(*path, real);
  auto closed = fd_path(-1);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().code(), ENOENT);
}

TEST(JoinPath, OneSlashBetween) {
  EXPECT_EQ(join_path("/", "/run/runc"), "/run/runc");
  EXPECT_EQ(join_path("/host", "/run/runc"), "/host/run/runc");
  EXPECT_EQ(join_path("/host/", "run/runc"), "/host/run/runc");
  EXPECT_EQ(join_path("/host", ""), "/host");
  EXPECT_EQ(join_path("/", "/"), "/");
  EXPECT_EQ(join_path("", "x"), "/x");
}

}  // namespace
}  // namespace ipctrace
