// file_sink — the only place ptio writes files.
//
// Nothing with a name exists until the file is complete: the bytes go to an unnamed file in
// the destination's folder (O_TMPFILE), linked into place by commit() (an existing
// destination is replaced atomically). Where the file system has no O_TMPFILE they go to a
// temporary name beside the destination, renamed into place by commit() and removed if
// SIGINT, SIGTERM or SIGHUP ends the process first. Either way readers see the old file or
// the whole new one, never a half-written one, and destroying a sink that was not committed
// leaves nothing. Writes pass through a 1 MiB buffer that large writes bypass; while a sink
// lives SIGXFSZ is ignored, so passing `ulimit -f` is an io_error, not a killed process.
//
// Ownership: owns its descriptor and its temporary file. Move-less, not thread-safe: one
// thread writes in order. Failure: ptio::error(io_error) naming the destination, the byte
// offset reached and the system's reason (the temporary cannot be created, a write, the
// fsync, the close, the link or the rename failed, the file-size limit); or naming the source
// file when bytes handed to write() were a mapping whose file shrank.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/signal_cleanup.hpp"

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
    void link_into_place();
    void close_fd();
    void put(std::span<const std::byte> bytes);
    [[noreturn]] void fail(const std::string& what, std::uint64_t offset) const;

    file_size_signal_off no_sigxfsz_;  // first: lives as long as the descriptor
    std::filesystem::path dst_, tmp_;  // tmp_ empty: the file is unnamed (O_TMPFILE)
    std::optional<remove_on_signal> cleanup_;
    int fd_ = -1;
    std::vector<std::byte> buf_;
    std::uint64_t pos_ = 0;      // bytes handed to write()
    std::uint64_t written_ = 0;  // bytes the file has
    bool committed_ = false;
};

}  // namespace ptio::detail
