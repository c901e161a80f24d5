#include "identity/boltdb.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <thread>

#include "base/fd.h"

namespace ipctrace {

namespace {

// bbolt's page.go and db.go.
constexpr size_t kPageHeaderSize = 16;    // id u64, flags u16, count u16, overflow u32
constexpr size_t kElementSize = 16;       // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
constexpr size_t kBucketHeaderSize = 16;  // root pgid u64, sequence u64
constexpr uint16_t kBranchPage = 0x01;
constexpr uint16_t kLeafPage = 0x02;
constexpr uint16_t kMetaPage = 0x04;
constexpr uint32_t kBucketLeaf = 0x01;
constexpr uint32_t kMagic = 0xED0CDAED;
constexpr uint32_t kVersion = 2;
// meta: magic u32, version u32, pageSize u32, flags u32, root {pgid u64, sequence u64}, freelist
// u64, pgid u64, txid u64, checksum u64: the checksum covers the 56 bytes before it.
constexpr size_t kMetaChecksummed = 56;
constexpr size_t kMetaSize = kMetaChecksummed + 8;
// One page with its overflow pages: podman's pages hold a container's JSON configuration, tens
// of KiB. And what one get() or entries() reads in all, whatever the file says.
constexpr uint64_t kMaxPageSpan = uint64_t{4} << 20;
constexpr uint64_t kMaxReadBytes = uint64_t{32} << 20;

template <typename T>
T load(std::string_view bytes, size_t at) {
  T v{};
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 14695981039346656037ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

Error malformed(const std::string& what) { return Error::msg("malformed bbolt file: " + what); }

struct Meta {
  uint32_t page_size = 0;
  uint64_t root = 0;
  uint64_t pages = 0;  // the high-water mark: pages in use
  uint64_t txid = 0;
};

// The meta page read at `offset`, if it is one and its checksum holds.
std::optional<Meta> read_meta(const BoltDb::ReadAt& read_at, uint64_t size, uint64_t offset) {
  if (offset > size || size - offset < kPageHeaderSize + kMetaSize) return std::nullopt;
  auto bytes = read_at(offset, kPageHeaderSize + kMetaSize);
  if (!bytes || bytes->size() != kPageHeaderSize + kMetaSize) return std::nullopt;
  const std::string_view page = *bytes;
  if ((load<uint16_t>(page, 8) & kMetaPage) == 0) return std::nullopt;
  const std::string_view meta = page.substr(kPageHeaderSize);
  if (load<uint32_t>(meta, 0) != kMagic || load<uint32_t>(meta, 4) != kVersion) return std::nullopt;
  if (fnv1a64(meta.substr(0, kMetaChecksummed)) != load<uint64_t>(meta, kMetaChecksummed)) return std::nullopt;
  Meta m;
  m.page_size = load<uint32_t>(meta, 8);
  m.root = load<uint64_t>(meta, 16);
  m.pages = load<uint64_t>(meta, 40);
  m.txid = load<uint64_t>(meta, 48);
  const bool power_of_two = (m.page_size & (m.page_size - 1)) == 0;
  if (m.page_size < BoltDb::kMinPageSize || m.page_size > BoltDb::kMaxPageSize || !power_of_two) return std::nullopt;
  if (offset != 0 && offset != m.page_size) return std::nullopt;  // meta 1 sits one page in
  return m;
}

}  // namespace

// One page (with its overflow pages), or an inline bucket's page: its bytes, checked to hold the
// header and the element array.
struct BoltDb::Page {
  std::string bytes;
  uint16_t flags = 0;
  uint16_t count = 0;

  static Result<Page> parse(std::string bytes) {
    if (bytes.size() < kPageHeaderSize) return malformed("a page shorter than its header");
    Page p;
    p.flags = load<uint16_t>(bytes, 8);
    p.count = load<uint16_t>(bytes, 10);
    if ((p.flags & (kBranchPage | kLeafPage)) == 0) return malformed("a bucket's page is neither branch nor leaf");
    if (kPageHeaderSize + uint64_t{p.count} * kElementSize > bytes.size()) {
      return malformed("a page's elements run past its end");
    }
    p.bytes = std::move(bytes);
    return p;
  }
  [[nodiscard]] bool leaf() const { return (flags & kLeafPage) != 0; }
  [[nodiscard]] size_t element(size_t i) const { return kPageHeaderSize + i * kElementSize; }
  // A slice of the page at element `e` + `pos`, checked.
  [[nodiscard]] Result<std::string_view> slice(size_t e, uint64_t pos, uint64_t length) const {
    const uint64_t start = e + pos;
    if (pos > bytes.size() || start > bytes.size() || length > bytes.size() - start) {
      return malformed("a key or value runs past its page");
    }
    return std::string_view(bytes).substr(start, length);
  }
  [[nodiscard]] Result<std::string_view> key(size_t i) const {
    const size_t e = element(i);
    if (leaf()) return slice(e, load<uint32_t>(bytes, e + 4), load<uint32_t>(bytes, e + 8));
    return slice(e, load<uint32_t>(bytes, e), load<uint32_t>(bytes, e + 4));
  }
  // A leaf's value (right after its key) and whether it is a nested bucket.
  [[nodiscard]] Result<std::pair<std::string_view, bool>> value(size_t i) const {
    const size_t e = element(i);
    const uint64_t pos = load<uint32_t>(bytes, e + 4);
    const uint64_t ksize = load<uint32_t>(bytes, e + 8);
    auto v = slice(e, pos + ksize, load<uint32_t>(bytes, e + 12));
    if (!v) return v.error();
    return std::pair{*v, (load<uint32_t>(bytes, e) & kBucketLeaf) != 0};
  }
  [[nodiscard]] uint64_t child(size_t i) const { return load<uint64_t>(bytes, element(i) + 8); }
};

Result<BoltDb> BoltDb::open(ReadAt read_at, uint64_t size_bytes) {
  const std::optional<Meta> first = read_meta(read_at, size_bytes, 0);
  // Meta page 1 is one page in: where meta 0 says, or (meta 0 torn) at each possible page size,
  // as bbolt itself looks for it. Its page size must be where it was found.
  std::optional<Meta> second;
  if (first) {
    second = read_meta(read_at, size_bytes, first->page_size);
  } else {
    for (uint64_t at = kMinPageSize; at <= kMaxPageSize && !second; at <<= 1)
      second = read_meta(read_at, size_bytes, at);
  }
  if (second && first && second->page_size != first->page_size) second.reset();
  const std::optional<Meta>& current = !first ? second : !second ? first : first->txid >= second->txid ? first : second;
  if (!current) return malformed("no valid meta page (not a bbolt file, or not version 2)");
  return BoltDb(std::move(read_at), size_bytes, current->page_size, current->root, current->txid);
}

Result<BoltDb> BoltDb::from_bytes(std::string bytes) {
  const uint64_t size = bytes.size();
  auto held = std::make_shared<const std::string>(std::move(bytes));
  return open(
      [held](uint64_t offset, size_t length) -> Result<std::string> {
        if (offset > held->size() || length > held->size() - offset) return Error(EIO, "read past the end");
        return held->substr(offset, length);
      },
      size);
}

Result<BoltDb::Page> BoltDb::page(uint64_t id) const {
  const uint64_t pages = size_ / page_size_;
  if (id < 2 || id >= pages) return malformed("page " + std::to_string(id) + " is outside the file");
  const uint64_t offset = id * page_size_;
  auto header = read_at_(offset, kPageHeaderSize);
  if (!header) return header.error();
  if (header->size() != kPageHeaderSize) return malformed("short read");
  if (load<uint64_t>(*header, 0) != id) return malformed("page " + std::to_string(id) + " says it is another");
  const uint64_t overflow = load<uint32_t>(*header, 12);
  if (overflow >= pages - id || (overflow + 1) * page_size_ > kMaxPageSpan) {
    return malformed("page " + std::to_string(id) + " overflows past the file");
  }
  const uint64_t span = (overflow + 1) * page_size_;
  if (span > read_budget_) return malformed("a lookup reads more than " + std::to_string(kMaxReadBytes) + " bytes");
  read_budget_ -= span;
  auto bytes = read_at_(offset, static_cast<size_t>(span));
  if (!bytes) return bytes.error();
  return Page::parse(std::move(*bytes));
}

namespace {

// The index of the branch element to descend into for `key`: the last whose key is not after it.
Result<size_t> branch_index(const auto& page, std::string_view key) {
  size_t chosen = 0;
  for (size_t i = 0; i < page.count; ++i) {
    auto k = page.key(i);
    if (!k) return k.error();
    if (*k > key) break;
    chosen = i;
  }
  return chosen;
}

}  // namespace

Result<std::optional<BoltDb::Page>> BoltDb::bucket(std::span<const std::string_view> buckets) const {
  if (buckets.size() > kMaxDepth) return malformed("buckets nested too deep");
  read_budget_ = kMaxReadBytes;  // every get() and entries() starts here
  auto current = page(root_);
  if (!current) return current.error();
  for (const std::string_view name : buckets) {
    // Down to the leaf that holds `name`.
    size_t depth = 0;
    while (!current->leaf()) {
      if (++depth > kMaxDepth || current->count == 0) return malformed("a bucket's tree is too deep or empty");
      auto i = branch_index(*current, name);
      if (!i) return i.error();
      current = page(current->child(*i));
      if (!current) return current.error();
    }
    std::optional<Page> next;
    for (size_t i = 0; i < current->count; ++i) {
      auto k = current->key(i);
      if (!k) return k.error();
      if (*k != name) continue;
      auto v = current->value(i);
      if (!v) return v.error();
      if (!v->second) return std::optional<Page>();  // a plain value, not a bucket
      const std::string_view header = v->first;
      if (header.size() < kBucketHeaderSize) return malformed("a bucket value shorter than its header");
      const uint64_t root = load<uint64_t>(header, 0);
      auto p = root == 0 ? Page::parse(std::string(header.substr(kBucketHeaderSize))) : page(root);
      if (!p) return p.error();
      next = std::move(*p);
      break;
    }
    if (!next) return std::optional<Page>();
    current = std::move(*next);
  }
  return std::optional<Page>(std::move(*current));
}

Result<std::optional<std::string>> BoltDb::get(std::span<const std::string_view> buckets, std::string_view key) const {
  auto b = bucket(buckets);
  if (!b) return b.error();
  if (!*b) return std::optional<std::string>();
  Page current = std::move(**b);
  size_t depth = 0;
  while (!current.leaf()) {
    if (++depth > kMaxDepth || current.count == 0) return malformed("a bucket's tree is too deep or empty");
    auto i = branch_index(current, key);
    if (!i) return i.error();
    auto next = page(current.child(*i));
    if (!next) return next.error();
    current = std::move(*next);
  }
  for (size_t i = 0; i < current.count; ++i) {
    auto k = current.key(i);
    if (!k) return k.error();
    if (*k != key) continue;
    auto v = current.value(i);
    if (!v) return v.error();
    if (v->second) return std::optional<std::string>();
    return std::optional<std::string>(std::string(v->first));
  }
  return std::optional<std::string>();
}

Result<std::vector<std::pair<std::string, std::string>>> BoltDb::entries(
    std::span<const std::string_view> buckets) const {
  std::vector<std::pair<std::string, std::string>> out;
  auto b = bucket(buckets);
  if (!b) return b.error();
  if (!*b) return out;
  // Depth first, left to right. A valid tree shares no page: one seen twice is malformed (a cycle,
  // or a branch whose children are all one page).
  std::set<uint64_t> seen;
  uint64_t bytes_out = 0;
  struct Level {
    Page page;
    size_t next = 0;
  };
  std::vector<Level> stack;
  stack.push_back({std::move(**b)});
  while (!stack.empty()) {
    Level& top = stack.back();
    if (top.next >= top.page.count) {
      stack.pop_back();
      continue;
    }
    const size_t i = top.next++;
    if (top.page.leaf()) {
      auto k = top.page.key(i);
      if (!k) return k.error();
      auto v = top.page.value(i);
      if (!v) return v.error();
      if (v->second) continue;
      bytes_out += k->size() + v->first.size();
      if (out.size() >= kMaxEntries || bytes_out > kMaxReadBytes) {
        return malformed("more than " + std::to_string(kMaxEntries) + " entries or " + std::to_string(kMaxReadBytes) +
                         " bytes");
      }
      out.emplace_back(std::string(*k), std::string(v->first));
      continue;
    }
    const uint64_t child_id = top.page.child(i);
    if (stack.size() > kMaxDepth || !seen.insert(child_id).second) {
      return malformed("a bucket's tree is too deep or shares a page");
    }
    auto child = page(child_id);
    if (!child) return child.error();
    stack.push_back({std::move(*child)});
  }
  return out;
}

Status with_bolt_file(const std::string& path, uint64_t max_bytes, const std::function<Status(const BoltDb&)>& use) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return Error::from_errno(path);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Error::from_errno(path);
  if (!S_ISREG(st.st_mode)) return Error(EINVAL, path + ": not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) return Error(EFBIG, path + ": larger than " + std::to_string(max_bytes) + " bytes");
  // bbolt's writers hold the exclusive lock for as long as the database is open (podman opens it
  // for each operation): wait a little for it, then read without it.
  bool locked = false;
  for (int attempt = 0; attempt < 20 && !locked; ++attempt) {
    locked = flock(fd.get(), LOCK_SH | LOCK_NB) == 0;
    if (!locked && errno != EWOULDBLOCK) break;
    if (!locked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int raw = fd.get();
  auto db = BoltDb::open(
      [raw](uint64_t offset, size_t length) -> Result<std::string> {
        std::string buf(length, '\0');
        size_t done = 0;
        while (done < length) {
          const ssize_t n = pread(raw, buf.data() + done, length - done, static_cast<off_t>(offset + done));
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return Error::from_errno("pread");
          if (n == 0) return Error(EIO, "the file ended early");
          done += static_cast<size_t>(n);
        }
        return buf;
      },
      size);
  Status result = db ? use(*db) : Status(db.error());
  if (db && !locked) {
    // Read without the lock: a commit since could have reused a page the answer came from (bbolt
    // frees a transaction's old pages for the next but one). Pages reachable from transaction T
    // are rewritten only after T+1's meta page is, so the same current meta before and after
    // means the answer is T's; another is a retry, never an answer.
    auto again = BoltDb::open(db->read_at_, size);
    if (!again || again->txid() != db->txid()) result = Error(EAGAIN, "the database changed while it was read");
  }
  if (!result) result = Error(result.error().code(), path + ": " + result.error().context());
  if (locked) flock(fd.get(), LOCK_UN);
  return result;
}

}  // namespace ipctrace
