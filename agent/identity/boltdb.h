// A read-only reader of bbolt (BoltDB) files: the key/value store podman 4 keeps its state in
// (/var/lib/containers/storage/libpod/bolt_state.db: pods, their names, which pod a container is
// in). Only what naming needs: the value of one key, found through a path of nested buckets, and
// the key/value pairs of one bucket.
//
// The format (go.etcd.io/bbolt, page.go, db.go, bucket.go; file format version 2, unchanged
// since boltdb 1.0): the file is an array of pages of one size (the meta page says which, 4096 on
// x86-64). Pages 0 and 1 are meta pages (magic 0xED0CDAED, version 2, page size, the root
// bucket's page, the transaction id, an FNV-1a 64 checksum); the valid one with the higher
// transaction id is current. A bucket is a B+tree of branch pages (key, child page) and leaf pages
// (key, value, flags); a leaf value flagged as a bucket holds the nested bucket's root page, or,
// when that is 0, the nested bucket inline (its one leaf page follows in the value). Integers are
// little-endian (bbolt writes the host's order; every Linux host podman runs on here is
// little-endian). Pages are read on demand with pread: the cost of a lookup is the depth of the
// tree, not the size of the file.
//
// The file is trusted no more than any other state on the host: every page id, offset and length
// is checked against the file, the descent is bounded (kMaxDepth), a page spans at most 4 MiB and
// one get() or entries() reads at most 32 MiB, entries() refuses a page reached twice, and a
// malformed file is an error, never a crash or a read outside it. A writer that commits while a
// lookup reads can reuse a page the lookup reads: with_bolt_file() takes the file's shared lock
// (flock, as bbolt's read-only mode does) when it comes free within a few milliseconds, and
// without it checks that the current meta page is the same after the lookup as before (else
// EAGAIN: the caller retries), since bbolt rewrites a transaction's pages only after the next
// transaction's meta page.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace ipctrace {

class BoltDb {
 public:
  // Reads `length` bytes at `offset` of the database; an error when the file is shorter.
  using ReadAt = std::function<Result<std::string>(uint64_t offset, size_t length)>;

  static constexpr size_t kMaxDepth = 32;                 // nested buckets plus tree levels
  static constexpr uint32_t kMinPageSize = 512;           // bbolt's page sizes are the OS's: 4 KiB to 64 KiB
  static constexpr uint32_t kMaxPageSize = 1U << 20;      // more is a malformed meta page
  static constexpr size_t kMaxEntries = size_t{1} << 20;  // pairs entries() returns at most

  // A database read through `read_at` (size_bytes: the file's size). Reads the meta pages: an
  // error when neither is valid.
  static Result<BoltDb> open(ReadAt read_at, uint64_t size_bytes);
  // A database held in memory (tests, the fuzz target).
  static Result<BoltDb> from_bytes(std::string bytes);
  friend Status with_bolt_file(const std::string&, uint64_t, const std::function<Status(const BoltDb&)>&);

  // The value of `key` in the bucket reached through `buckets` from the root (each a nested
  // bucket of the one before); nullopt when a bucket or the key is absent, or the key names a
  // bucket. An error for a malformed file.
  Result<std::optional<std::string>> get(std::span<const std::string_view> buckets, std::string_view key) const;

  // Every key/value pair of that bucket in key order, nested buckets left out; empty when the
  // bucket is absent. An error for a malformed file or more than kMaxEntries pairs.
  Result<std::vector<std::pair<std::string, std::string>>> entries(std::span<const std::string_view> buckets) const;

  [[nodiscard]] uint32_t page_size() const { return page_size_; }
  [[nodiscard]] uint64_t txid() const { return txid_; }

 private:
  struct Page;
  BoltDb(ReadAt read_at, uint64_t size, uint32_t page_size, uint64_t root, uint64_t txid)
      : read_at_(std::move(read_at)), size_(size), page_size_(page_size), root_(root), txid_(txid) {}
  Result<Page> page(uint64_t id) const;
  // The root page of the bucket at `buckets` (an inline bucket's page is part of its parent's value);
  // nullopt when a bucket on the way is absent.
  Result<std::optional<Page>> bucket(std::span<const std::string_view> buckets) const;

  ReadAt read_at_;
  mutable uint64_t read_budget_ = 0;  // bytes the current get() or entries() may still read
  uint64_t size_;
  uint32_t page_size_;
  uint64_t root_;
  uint64_t txid_;
};

// Opens the bbolt file at `path` (an error if it is not a regular file, or larger than
// `max_bytes`) and hands `use` the database, holding the file's shared lock (flock) while `use`
// runs when the lock comes free within a few milliseconds. A missing file is an error is_missing()
// recognises; otherwise what `use` returns. Every error names the file.
Status with_bolt_file(const std::string& path, uint64_t max_bytes, const std::function<Status(const BoltDb&)>& use);

}  // namespace ipctrace
