// mapped_file — the only place ptio maps files.
//
// A read-only or copy-on-write mapping of a whole file (Boost.Interprocess), or a borrowed or
// owned span of bytes that plays the same role for in-memory checkpoints. Move-only; the
// bytes are valid while it lives. A zero-length file is a valid, empty mapping.
//
// A file of at most read_limit bytes opened read-only is read into memory instead (open,
// one pread, close): for a file of a few kilobytes, a mapping's mmap, page faults and munmap
// cost more than the copy, and a dataset of small sample files pays that per item. The
// buffer is aligned to buffer_alignment, so a record keeps the alignment its offset gives it
// in the file. Such bytes are a snapshot:
// a file that shrinks or is rewritten after the open cannot fault them (no SIGBUS), and they
// are not is_file(), so readers copy them rather than pread the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ptio::detail {

class mapped_file {
public:
    enum class mode { read_only, copy_on_write };

    /// Read-only files up to this size are read, not mapped (see above).
    static constexpr std::uint64_t read_limit = 64 << 10;
    /// The alignment of a read file's buffer (torch aligns zip records to 64 bytes).
    static constexpr std::size_t buffer_alignment = 64;

    /// Map `path` (or read it, when small and read-only). Throws ptio::error(io_error) if it cannot be opened or mapped, or is a
    /// directory or not a regular file.
    static mapped_file map(const std::filesystem::path& path, mode m = mode::read_only);
    /// As map(), but a directory is no error: nullopt. One lookup of the path tells a file
    /// from a directory and opens it (checkpoint::open reads a directory as an index).
    static std::optional<mapped_file> map_unless_directory(const std::filesystem::path& path,
                                                           mode m = mode::read_only);
    /// Borrow bytes the caller keeps alive.
    static mapped_file borrow(std::span<const std::byte> bytes);
    /// Own bytes.
    static mapped_file adopt(std::vector<std::byte>&& bytes);

    /// An empty mapping (zero bytes).
    mapped_file();
    mapped_file(mapped_file&&) noexcept;
    mapped_file& operator=(mapped_file&&) noexcept;
    ~mapped_file();

    [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
    [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
    [[nodiscard]] bool is_mapping() const noexcept { return region_ != nullptr; }

    /// True for a file (read-only or copy-on-write), which read_at() can read.
    [[nodiscard]] bool is_file() const noexcept { return region_ != nullptr; }
    /// True for a read-only mapping of a file: its pages may be dropped from this process
    /// (madvise DONTNEED) once read, and come back unchanged from the page cache. False for a
    /// copy-on-write mapping, whose dropped pages would lose the process's writes, and for
    /// bytes in memory.
    [[nodiscard]] bool is_read_only_mapping() const noexcept;
    /// Copy `out.size()` bytes of the file at `offset` with pread(2): the page cache's bytes
    /// without mapping a page into this process (the staging engine's fast path). Reads the
    /// file, not a copy-on-write mapping's private changes. Throws io_error.
    void read_at(std::uint64_t offset, std::span<std::byte> out) const;

    /// Page-cache advice over a byte range (no-op for memory bytes): random access while
    /// reading metadata, sequential or willneed before bulk reads.
    enum class advice { normal, random, sequential, willneed };
    void advise(advice a) const noexcept;
    /// Drop this process's resident pages of a read-only mapping (madvise DONTNEED; a no-op
    /// for any other bytes): the bytes stay valid, and a later read faults them in again,
    /// unchanged, from the page cache. The open calls it when done, so the pages it read
    /// (the zip directory, the pickle) stop counting against the process.
    void release_pages() const noexcept;

private:
    struct region;
    struct buffer_delete {
        void operator()(std::byte* p) const noexcept;
    };
    std::unique_ptr<region> region_;
    std::unique_ptr<std::byte[], buffer_delete> read_;  // a small file's bytes, read
    std::vector<std::byte> owned_;
    std::span<const std::byte> bytes_;
};

}  // namespace ptio::detail
