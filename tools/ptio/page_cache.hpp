// tools/ptio/page_cache.hpp — drop a file from the page cache, for `bench --cold`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ptio_cli {

/// Writes back the file's dirty pages (fdatasync, so a file written moments ago can be
/// dropped too) and asks the kernel to drop its cached pages (posix_fadvise
/// POSIX_FADV_DONTNEED). Pages some process still maps stay: destroy every checkpoint of the
/// file first. Returns the bytes of the file still resident afterwards (mincore), or nullopt
/// when that cannot be told. Throws ptio::error (io_error) when the file cannot be opened.
std::optional<std::uint64_t> drop_from_page_cache(const std::string& path);

/// The files that hold a checkpoint's bytes: its shards for a Hugging Face index or a
/// directory holding one (read from the index; no shard is opened), else the file itself.
std::vector<std::string> checkpoint_files(const std::string& path);

/// The drops of a `--cold` benchmark and what they left behind.
class cold_runs {
public:
    explicit cold_runs(bool enabled = false) : enabled_(enabled) {}

    [[nodiscard]] bool enabled() const noexcept { return enabled_; }
    /// Drops `path` (every shard of a sharded checkpoint) from the page cache when enabled;
    /// call it before a timed run, once no mapping of the file is left.
    void before_run(const std::string& path);
    /// The most bytes of the file still cached right after a drop; nullopt before any drop,
    /// or when one could not be counted.
    [[nodiscard]] std::optional<std::uint64_t> max_resident() const noexcept {
        return uncounted_ ? std::nullopt : max_resident_;
    }

private:
    bool enabled_;
    bool uncounted_ = false;
    std::optional<std::uint64_t> max_resident_;
};

}  // namespace ptio_cli
