// tools/ptio/staging_args.hpp — the staging options `load` and `bench` share (--threads,
// --chunk-mb, --chunks, --pinning, --allocation, --read), their parsing and how they are
// reported.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cli.hpp"
#include "json_output.hpp"
#include "ptio/load.hpp"

namespace ptio_cli {

/// The shared options as typed; add_staging_options fills it while the command line parses.
struct staging_texts {
    std::optional<std::string> threads, chunk_mb, chunks, pinning, allocation, read;
};

/// Adds the shared options to a command, after its own (their help follows in this order).
void add_staging_options(CLI::App& app, staging_texts& texts);

struct staging_args {
    ptio::stager_options stager;
    ptio::device_allocation allocation = ptio::device_allocation::per_device;
    unsigned threads = 0;  // 0: the library's default
    ptio::file_read read = ptio::file_read::pread;
};

/// Reads the shared options; throws usage_error naming the option and the value.
[[nodiscard]] staging_args parse_staging_args(const staging_texts& texts);

/// The threads a load uses for `threads` (0: the documented default, the cores, at most 12).
[[nodiscard]] unsigned effective_threads(unsigned threads) noexcept;

[[nodiscard]] std::string_view pinning_name(ptio::pinning p) noexcept;               // "alloc"
[[nodiscard]] std::string_view allocation_name(ptio::device_allocation a) noexcept;  // "device"
[[nodiscard]] std::string_view read_name(ptio::file_read r) noexcept;                // "pread"
[[nodiscard]] std::string_view cpu_placement_name(ptio::cpu_placement c) noexcept;   // "view"

/// {"threads", "chunk_bytes", "chunks", "pinning", "allocation", "read"}, as used.
[[nodiscard]] json staging_json(const staging_args& s);

}  // namespace ptio_cli
