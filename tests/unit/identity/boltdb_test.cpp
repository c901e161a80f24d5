// identity/boltdb.h against podman 4.3's own database (recorded: testdata/identity/podman-4.3) and
// against files built here page by page, well-formed and hostile: every malformed file is an
// error, never a crash, a hang or a read outside the file.
#include "identity/boltdb.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using ipctrace::BoltDb;
namespace fs = std::filesystem;

namespace {

// What podman 4.3.1 (Debian 12) wrote for: pod "webpod" (its infra container and "web-client"),
// and "solo", in no pod (podman ps -a --pod; README.md beside the file).
const std::string kPod = "cf62b38ca698b223aefc965eac025852f1bd37ad5a400e6917b694ec3c972562";
const std::string kInfra = "80c59418334687f24f9bd2cee3ba0fb1e6f8799bb34cd18f0b2e9cb3107d05b9";
const std::string kWebClient = "60ba76cf1fcbb47e657c466d54b0ea24d1e9102797a2b05e6dba721e19f54307";
const std::string kSolo = "24f5d060cf84e5096daf86041faf792cf643e0a05da15099a3727bead34271c5";

fs::path podman_dir() {
  return fs::path(__FILE__).parent_path().parent_path() / "testdata" / "identity" / "podman-4.3";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <size_t N>
std::span<const std::string_view> path(const std::array<std::string_view, N>& a) {
  return {a.data(), a.size()};
}

// A bbolt file built page by page (page size 4096): meta pages 0 and 1, then the pages added.
class Builder {
 public:
  static constexpr uint32_t kPageSize = 4096;
  struct Leaf {
    std::string key, value;
    bool bucket = false;
  };
  struct Branch {
    std::string key;
    uint64_t child;
  };

  // A leaf page's bytes (id 0 for an inline bucket).
  static std::string leaf_bytes(uint64_t id, const std::vector<Leaf>& elements) {
    std::string p(16 + 16 * elements.size(), '\0');
    header(p, id, 0x02, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) {
      const size_t e = 16 + 16 * i;
      const auto pos = static_cast<uint32_t>(p.size() - e);
      put<uint32_t>(p, e, elements[i].bucket ? 1 : 0);
      put<uint32_t>(p, e + 4, pos);
      put<uint32_t>(p, e + 8, static_cast<uint32_t>(elements[i].key.size()));
      put<uint32_t>(p, e + 12, static_cast<uint32_t>(elements[i].value.size()));
      p += elements[i].key + elements[i].value;
    }
    return p;
  }
  // A nested bucket's value: its root page, or (root 0) the inline page after the header.
  static std::string bucket_value(uint64_t root, const std::string& inline_page = "") {
    std::string v(16, '\0');
    put<uint64_t>(v, 0, root);
    return v + inline_page;
  }

  uint64_t add_leaf(const std::vector<Leaf>& elements) { return add(leaf_bytes(next_id(), elements)); }
  uint64_t add_branch(const std::vector<Branch>& elements) {
    std::string p(16 + 16 * elements.size(), '\0');
    header(p, next_id(), 0x01, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) {
      const size_t e = 16 + 16 * i;
      put<uint32_t>(p, e, static_cast<uint32_t>(p.size() - e));
      put<uint32_t>(p, e + 4, static_cast<uint32_t>(elements[i].key.size()));
      put<uint64_t>(p, e + 8, elements[i].child);
      p += elements[i].key;
    }
    return add(p);
  }
  // A page whose contents the test writes itself (its id is set).
  uint64_t add_raw(std::string page) {
    page.resize(std::max<size_t>(page.size(), 16));
    put<uint64_t>(page, 0, next_id());
    return add(page);
  }
  [[nodiscard]] uint64_t next_id() const { return 2 + pages_.size(); }

  // The file, with the root bucket at `root` in meta page `which` (txid 2) and an older meta
  // (txid 1, root `old_root`) in the other.
  [[nodiscard]] std::string file(uint64_t root, uint64_t old_root = 0, int which = 1) const {
    std::string f;
    for (int m = 0; m < 2; ++m) f += meta(m, m == which ? root : old_root, m == which ? 2 : 1);
    for (const std::string& p : pages_) {
      std::string padded = p;
      padded.resize(((p.size() + kPageSize - 1) / kPageSize) * kPageSize, '\0');
      f += padded;
    }
    return f;
  }

 private:
  template <typename T>
  static void put(std::string& s, size_t at, T v) {
    std::memcpy(s.data() + at, &v, sizeof v);
  }
  static void header(std::string& p, uint64_t id, uint16_t flags, size_t count) {
    put<uint64_t>(p, 0, id);
    put<uint16_t>(p, 8, flags);
    put<uint16_t>(p, 10, static_cast<uint16_t>(count));
  }
  [[nodiscard]] std::string meta(uint64_t id, uint64_t root, uint64_t txid) const {
    std::string p(kPageSize, '\0');
    header(p, id, 0x04, 0);
    put<uint32_t>(p, 16, 0xED0CDAED);
    put<uint32_t>(p, 20, 2);
    put<uint32_t>(p, 24, kPageSize);
    put<uint64_t>(p, 32, root);
    put<uint64_t>(p, 56, next_id());
    put<uint64_t>(p, 64, txid);
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 16; i < 72; ++i) {
      h ^= static_cast<unsigned char>(p[i]);
      h *= 1099511628211ULL;
    }
    put<uint64_t>(p, 72, h);
    return p;
  }
  uint64_t add(std::string page) {
    const uint64_t id = load_id(page);
    // Pages longer than one are overflow pages: the header says how many follow.
    const auto overflow = static_cast<uint32_t>((page.size() + kPageSize - 1) / kPageSize - 1);
    put<uint32_t>(page, 12, overflow);
    pages_.push_back(std::move(page));
    for (uint32_t i = 0; i < overflow; ++i) pages_.emplace_back();  // ids taken by the overflow
    return id;
  }
  static uint64_t load_id(const std::string& p) {
    uint64_t id = 0;
    std::memcpy(&id, p.data(), sizeof id);
    return id;
  }
  std::vector<std::string> pages_;
};

std::string get_or_error(const BoltDb& db, std::span<const std::string_view> buckets, std::string_view key) {
  auto v = db.get(buckets, key);
  if (!v) return "error: " + v.error().message();
  return *v ? **v : "(none)";
}

}  // namespace

TEST(BoltDb, ReadsPodmansPodsAndWhichPodAContainerIsIn) {
  auto db = BoltDb::from_bytes(slurp(podman_dir() / "bolt_state.db"));
  ASSERT_TRUE(db.ok()) << db.error().message();
  EXPECT_EQ(db->page_size(), 4096U);
  const std::array<std::string_view, 1> all_pods{"allPods"};
  EXPECT_EQ(get_or_error(*db, path(all_pods), kPod), "webpod");
  auto pods = db->entries(path(all_pods));
  ASSERT_TRUE(pods.ok()) << pods.error().message();
  EXPECT_EQ(*pods, (std::vector<std::pair<std::string, std::string>>{{kPod, "webpod"}}));

  for (const std::string& id : {kInfra, kWebClient}) {
    const std::array<std::string_view, 2> ctr{"ctr", id};
    EXPECT_EQ(get_or_error(*db, path(ctr), "pod-id"), kPod) << id;
  }
  const std::array<std::string_view, 2> solo{"ctr", kSolo};
  EXPECT_EQ(get_or_error(*db, path(solo), "pod-id"), "(none)");

  // The registry of every name: three containers and the pod.
  const std::array<std::string_view, 1> ids{"id-registry"};
  auto names = db->entries(path(ids));
  ASSERT_TRUE(names.ok()) << names.error().message();
  EXPECT_EQ(*names,
            (std::vector<std::pair<std::string, std::string>>{
                {kSolo, "solo"}, {kWebClient, "web-client"}, {kInfra, "cf62b38ca698-infra"}, {kPod, "webpod"}}));

  // Absent buckets and keys, and a key that names a bucket, are nothing, not errors.
  const std::array<std::string_view, 1> none{"no-such-bucket"};
  EXPECT_EQ(get_or_error(*db, path(none), "x"), "(none)");
  EXPECT_EQ(get_or_error(*db, path(all_pods), "0000"), "(none)");
  const std::array<std::string_view, 0> root{};
  EXPECT_EQ(get_or_error(*db, path(root), "ctr"), "(none)");
  auto empty = db->entries(path(none));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(BoltDb, FollowsBranchesInlineBucketsAndTheNewerMeta) {
  Builder b;
  // A bucket "big" whose tree has two leaves under a branch; a bucket "small" inline in the root.
  const uint64_t left = b.add_leaf({{"a", "1"}, {"b", "2"}});
  const uint64_t right = b.add_leaf({{"m", "3"}, {"z", "4"}});
  const uint64_t big = b.add_branch({{"a", left}, {"m", right}});
  const std::string small = Builder::bucket_value(0, Builder::leaf_bytes(0, {{"k", "v"}}));
  const uint64_t root = b.add_leaf({{"big", Builder::bucket_value(big), true}, {"small", small, true}});
  const uint64_t stale_root = b.add_leaf({{"big", "not a bucket"}});

  for (int which : {0, 1}) {
    auto db = BoltDb::from_bytes(b.file(root, stale_root, which));
    ASSERT_TRUE(db.ok()) << db.error().message();
    EXPECT_EQ(db->txid(), 2U);
    const std::array<std::string_view, 1> big_path{"big"};
    const std::array<std::string_view, 1> small_path{"small"};
    EXPECT_EQ(get_or_error(*db, path(big_path), "a"), "1");
    EXPECT_EQ(get_or_error(*db, path(big_path), "m"), "3");
    EXPECT_EQ(get_or_error(*db, path(big_path), "z"), "4");
    EXPECT_EQ(get_or_error(*db, path(big_path), "c"), "(none)");
    EXPECT_EQ(get_or_error(*db, path(big_path), "0"), "(none)");  // before the first key
    EXPECT_EQ(get_or_error(*db, path(small_path), "k"), "v");
    auto all = db->entries(path(big_path));
    ASSERT_TRUE(all.ok()) << all.error().message();
    EXPECT_EQ(all->size(), 4U);
  }
}

TEST(BoltDb, MalformedFilesAreErrorsNeverCrashesOrHangs) {
  // Not a bbolt file at all; a meta page with a bad checksum.
  EXPECT_FALSE(BoltDb::from_bytes("").ok());
  EXPECT_FALSE(BoltDb::from_bytes(std::string(8192, 'x')).ok());
  {
    Builder b;
    const uint64_t root = b.add_leaf({});
    std::string f = b.file(root, root);
    f[16 + 30] ^= 1;    // meta 0's root bucket sequence, under its checksum
    f[4096 + 30] ^= 1;  // and meta 1's
    EXPECT_FALSE(BoltDb::from_bytes(f).ok());
  }

  const std::array<std::string_view, 1> x{"x"};
  const auto expect_error = [&](const std::string& file, const char* what) {
    SCOPED_TRACE(what);
    auto db = BoltDb::from_bytes(file);
    ASSERT_TRUE(db.ok()) << db.error().message();
    EXPECT_FALSE(db->get(path(x), "k").ok());
    EXPECT_FALSE(db->entries(path(x)).ok());
  };
  {
    Builder b;  // a branch page that is its own child: a cycle
    const uint64_t self = b.next_id();
    b.add_branch({{"a", self}});
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(self), true}});
    expect_error(b.file(root), "a cycle");
  }
  {
    Builder b;  // a child page beyond the end of the file
    const uint64_t branch = b.add_branch({{"a", 1000}});
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(branch), true}});
    expect_error(b.file(root), "a page past the end");
  }
  {
    Builder b;  // a child that is a meta page
    const uint64_t branch = b.add_branch({{"a", 0}});
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(branch), true}});
    expect_error(b.file(root), "a meta page as a child");
  }
  {
    Builder b;  // a page claiming 1000 elements in 4096 bytes
    std::string p(16, '\0');
    p[8] = 0x02;
    p[10] = static_cast<char>(1000 & 0xff);
    p[11] = static_cast<char>(1000 >> 8);
    const uint64_t bad = b.add_raw(p);
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(bad), true}});
    expect_error(b.file(root), "elements past the page");
  }
  {
    Builder b;  // a key whose length runs past its page
    std::string p = Builder::leaf_bytes(0, {{"k", "v"}});
    p[16 + 8] = '\xff';
    p[16 + 9] = '\xff';
    const uint64_t bad = b.add_raw(p);
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(bad), true}});
    expect_error(b.file(root), "a key past the page");
  }
  {
    Builder b;  // an overflow count past the end of the file
    std::string p = Builder::leaf_bytes(0, {{"k", "v"}});
    const uint64_t bad = b.add_raw(p);
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(bad), true}});
    std::string f = b.file(root);
    f[bad * Builder::kPageSize + 12] = '\x7f';
    expect_error(f, "overflow past the end");
  }
  {
    Builder b;  // a branch whose two children are one page: entries() would read it twice
    const uint64_t leaf = b.add_leaf({{"k", "v"}});
    const uint64_t branch = b.add_branch({{"a", leaf}, {"b", leaf}});
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(branch), true}});
    auto db = BoltDb::from_bytes(b.file(root));
    ASSERT_TRUE(db.ok());
    EXPECT_FALSE(db->entries(path(x)).ok());
  }
  {
    Builder b;  // a leaf spanning 5 MiB of overflow pages: more than a page may
    const uint64_t big = b.add_raw(Builder::leaf_bytes(0, {{"k", std::string(size_t{5} << 20, 'v')}}));
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(big), true}});
    expect_error(b.file(root), "a page of 5 MiB");
  }
  {
    Builder b;  // an inline bucket too short for its page header
    const uint64_t root = b.add_leaf({{"x", Builder::bucket_value(0, "abc"), true}});
    expect_error(b.file(root), "a short inline bucket");
  }
}

TEST(BoltDb, EveryTruncationAndByteFlipOfPodmansFileIsHandled) {
  // Under the sanitizer build this is where a read outside the file would show.
  const std::string original = slurp(podman_dir() / "bolt_state.db");
  ASSERT_FALSE(original.empty());
  const std::array<std::string_view, 1> all_pods{"allPods"};
  const std::array<std::string_view, 2> ctr{"ctr", kWebClient};
  const auto exercise = [&](const std::string& file) {
    auto db = BoltDb::from_bytes(file);
    if (!db) return;
    (void)db->get(path(all_pods), kPod);
    (void)db->get(path(ctr), "pod-id");
    (void)db->entries(path(all_pods));
  };
  for (size_t size = 0; size < original.size(); size += 509) exercise(original.substr(0, size));
  std::mt19937_64 rng(20261202);
  size_t still_valid = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string file = original;
    for (int flips = 0; flips < 4; ++flips) {
      // Mostly the used pages (the first 20), where the tree is.
      const size_t at = rng() % std::min<size_t>(file.size(), size_t{20} * 4096);
      file[at] = static_cast<char>(rng());
    }
    exercise(file);
    auto db = BoltDb::from_bytes(file);
    still_valid += db.ok() && db->get(path(all_pods), kPod).ok() ? 1 : 0;
  }
  // Most flips land in bytes a lookup never reads: the reader is not rejecting everything.
  EXPECT_GT(still_valid, 1000U);
}
