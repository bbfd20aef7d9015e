// file_sink — the only place ptio writes files.
//
// Bytes go to a temporary file beside the destination (same folder, so the rename cannot
// cross file systems), through a 1 MiB buffer that large writes bypass; commit() flushes,
// optionally fsyncs, closes and renames it over the destination, so readers see the old file
// or the whole new one, never a half-written one. Destroying a sink that was not committed
// removes the temporary file.
//
// Ownership: owns its descriptor and its temporary file. Move-less, not thread-safe: one
// thread writes in order. Failure: ptio::error(io_error) naming the destination, the byte
// offset reached and the system's reason (the temporary cannot be created, a write, the
// fsync, the close or the rename failed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace ptio::detail {

class file_sink {
public:
    /// Create the temporary file for `destination`.
    explicit file_sink(std::filesystem::path destination);
    ~file_sink();
    file_sink(const file_sink&) = delete;
    file_sink& operator=(const file_sink&) = delete;

    void write(std::span<const std::byte> bytes);
    /// Bytes handed to write() so far.
    [[nodiscard]] std::uint64_t position() const noexcept { return pos_; }
    /// Finish the file and rename it into place; `sync`: fsync it first. Nothing may be
    /// written after.
    void commit(bool sync);

private:
    void flush();
    void put(std::span<const std::byte> bytes);
    [[noreturn]] void fail(const std::string& what, std::uint64_t offset) const;

    std::filesystem::path dst_, tmp_;
    int fd_ = -1;
    std::vector<std::byte> buf_;
    std::uint64_t pos_ = 0;      // bytes handed to write()
    std::uint64_t written_ = 0;  // bytes the file has
    bool committed_ = false;
};

}  // namespace ptio::detail
