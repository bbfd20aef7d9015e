// zip::archive — the records of a zip file as spans of its bytes.
//
// Reads the end record (ZIP64 locator and end record when present), the central directory
// and, lazily, each record's local header. Torch writes every record
// under one top folder, the prefix, taken from the first directory entry. Stored records are
// handed out as spans of the file; deflated ones are inflated into memory the caller owns.
//
// Checked at construction: the end records and the directory lie inside the file; every
// entry's local header offset, name and sizes leave room inside the file before the next
// record (no overlaps) and before the directory; names are unique. Checked on first access to
// a record: the local header's signature, and that the payload ends before the next record.
// Thread-safety: const methods are safe from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ptio::detail::zip {

struct entry {
    std::string name;            ///< full name inside the archive ("model/data/0")
    std::uint64_t header_offset = 0;
    std::uint64_t compressed_size = 0;
    std::uint64_t size = 0;
    std::uint32_t crc32 = 0;
    std::uint16_t method = 0;
    std::uint16_t flags = 0;
    std::uint64_t limit = 0;     ///< the payload must end at or before this offset
};

/// True when bytes start with a local file header signature (torch's test for "zip").
[[nodiscard]] bool looks_like_zip(std::span<const std::byte> bytes) noexcept;

class archive {
public:
    /// Parse the directory of `file`. `filename` is used in messages.
    archive(std::span<const std::byte> file, std::string filename, std::size_t max_records);

    [[nodiscard]] std::string_view prefix() const noexcept { return prefix_; }
    [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }
    /// The entry for `record` under the prefix ("data.pkl", "data/0"), or nullptr. Exact
    /// match first, then ASCII case-insensitive as torch's zip reader does.
    [[nodiscard]] const entry* find(std::string_view record) const noexcept;
    /// The record name relative to the prefix.
    [[nodiscard]] std::string_view relative_name(const entry& e) const noexcept;

    /// Absolute offset of the payload (reads the local header).
    [[nodiscard]] std::uint64_t payload_offset(const entry& e) const;
    /// The stored payload as a span of the file; throws compression_error if deflated.
    [[nodiscard]] std::span<const std::byte> stored(const entry& e) const;
    /// Throws compression_error unless a non-stored `e` is deflated and claims a size deflate
    /// can reach from its compressed size: what extract() checks first, for a caller that
    /// charges the claimed size to a budget before inflating.
    void check_inflatable(const entry& e) const;
    /// The payload inflated (deflate) or copied (stored) into owned memory.
    [[nodiscard]] std::vector<std::byte> extract(const entry& e) const;
    /// Compare the CRC-32 of `payload` with the entry's (skipped when the entry gives 0).
    void check_crc(const entry& e, std::span<const std::byte> payload) const;

    [[nodiscard]] const std::string& filename() const noexcept { return filename_; }

private:
    void read_directory(std::size_t max_records);

    std::span<const std::byte> file_;
    std::string filename_;
    std::string prefix_;
    std::vector<entry> entries_;
    // Keys view the part of entries_[i].name after the prefix; entries_ never reallocates
    // after construction, and moving the vector keeps its buffer.
    std::unordered_map<std::string_view, std::size_t> by_record_;
};

/// CRC-32 (zip polynomial) of bytes (crc32.cpp): carry-less multiplication where the CPU has
/// it, zlib otherwise.
[[nodiscard]] std::uint32_t crc32(std::span<const std::byte> bytes) noexcept;
/// The CRC-32 of earlier bytes continued over these.
[[nodiscard]] std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;
/// zlib's CRC-32 alone, for tests.
[[nodiscard]] std::uint32_t crc32_reference(std::span<const std::byte> bytes) noexcept;

}  // namespace ptio::detail::zip
