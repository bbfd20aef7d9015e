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
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/flat_index.hpp"

namespace ptio::detail {
class mapped_file;
}

namespace ptio::detail::zip {

struct entry {
    std::string_view name;       ///< full name inside the archive ("model/data/0"), kept by
                                 ///< the archive
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

    /// The mapping `file` lies in, when the owner has one (null: none said): what its storages
    /// report as their file, so the staging engine can read them through it.
    void set_mapping(const mapped_file* m) noexcept { mapping_ = m; }
    [[nodiscard]] const mapped_file* mapping() const noexcept { return mapping_; }

    [[nodiscard]] std::string_view prefix() const noexcept { return prefix_; }
    [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }
    /// The entry for `record` under the prefix ("data.pkl", "data/0"), or nullptr. Exact
    /// match first, then ASCII case-insensitive as torch's zip reader does.
    [[nodiscard]] const entry* find(std::string_view record) const noexcept;
    /// Frees the index find() uses (8 to 16 bytes a record), for an owner done with its
    /// look-ups by name: find() then scans the entries. Not while another thread calls find().
    void drop_index() noexcept { by_record_.clear(); }
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
    /// The first `want` bytes of the payload (all of it when `want` is at least its size),
    /// handed to `sink` in order, in pieces of at most `piece` bytes: a stored record as
    /// spans of the file, a deflated one inflated through one buffer of `piece` bytes, so
    /// only reading it never holds it whole. A read that stops early checks the stream only
    /// as far as it went. Throws compression_error as extract() does; what `sink` throws
    /// passes through. The one place payloads are read for the reader's own work.
    void read_payload(const entry& e, std::uint64_t want, std::size_t piece,
                      const std::function<void(std::span<const std::byte>)>& sink) const;
    /// Compare the CRC-32 of `payload` with the entry's (skipped when the entry gives 0).
    void check_crc(const entry& e, std::span<const std::byte> payload) const;
    /// The same over the record's own payload, read with read_payload (memory: one piece).
    void check_crc(const entry& e) const;
    /// Throw crc_mismatch when `crc`, computed by the caller over the payload, is not the
    /// entry's (skipped when the entry gives 0).
    void compare_crc(const entry& e, std::uint32_t crc) const;

    [[nodiscard]] const std::string& filename() const noexcept { return filename_; }

private:
    // payload_offset's checks, on a copy of the local header's bytes.
    [[nodiscard]] std::uint64_t parse_local_header(const entry& e, std::span<const std::byte> copy) const;
    void read_directory(std::size_t max_records);
    static constexpr std::size_t crc_piece = std::size_t{1} << 20;  // memory a streamed CRC needs

    std::span<const std::byte> file_;
    std::string filename_;
    std::string prefix_;
    std::vector<entry> entries_;
    std::unique_ptr<char[]> names_;  // the entries' names, one after another
    // Positions in entries_ of the records under the prefix, by their relative name.
    flat_index by_record_;
    const mapped_file* mapping_ = nullptr;
};

/// CRC-32 (zip polynomial) of bytes (crc32.cpp): carry-less multiplication where the CPU has
/// it, zlib otherwise.
[[nodiscard]] std::uint32_t crc32(std::span<const std::byte> bytes) noexcept;
/// The CRC-32 of earlier bytes continued over these.
[[nodiscard]] std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;
/// zlib's CRC-32 alone, for tests.
[[nodiscard]] std::uint32_t crc32_reference(std::span<const std::byte> bytes) noexcept;

}  // namespace ptio::detail::zip
