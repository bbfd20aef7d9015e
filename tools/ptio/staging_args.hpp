// tools/ptio/staging_args.hpp — the staging options `load` and `bench` share (--threads,
// --chunk-mb, --chunks, --pinning, --allocation), their parsing and how they are reported.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "command.hpp"
#include "json.hpp"
#include "ptio/load.hpp"

namespace ptio_cli {

/// The option_spec entries of the shared staging options.
inline constexpr option_spec staging_option_specs[] = {
    {"threads", '\0', true},
    {"chunk-mb", '\0', true},
    {"chunks", '\0', true},
    {"pinning", '\0', true},
    {"allocation", '\0', true},
    {"read", '\0', true},
};

/// A command's own options followed by the shared ones, as one table.
template <std::size_t N>
constexpr std::array<option_spec, N + std::size(staging_option_specs)> with_staging_options(
    const option_spec (&own)[N]) {
    std::array<option_spec, N + std::size(staging_option_specs)> all{};
    std::size_t i = 0;
    for (const option_spec& o : own) all[i++] = o;
    for (const option_spec& o : staging_option_specs) all[i++] = o;
    return all;
}

/// The --help lines describing them (indented as in every command's usage text).
inline constexpr std::string_view staging_option_help =
    R"(  --threads N        threads copying out of the file (default: the number of
                     cores, at most 12)
  --chunk-mb N       MiB in one pinned staging chunk, one cudaMemcpyAsync each
                     (default 4); also the piece size of CPU copies
  --chunks N         pinned chunks in the pool (default 32): the pool holds at most
                     chunks x chunk-mb of pinned host memory
  --pinning alloc|register
                     pin chunks with cudaHostAlloc (alloc, the default) or register
                     page-aligned memory with cudaHostRegister (register)
  --allocation device|storage
                     one allocation per device holding every storage at 256-byte
                     aligned offsets (device, the default), or one per storage
  --read pread|mmap  read stored records with pread into the chunks (the default) or
                     memcpy them from the mapping
)";

/// A command's usage text: its own head, the staging options, its own tail.
[[nodiscard]] inline std::string usage_with_staging(std::string_view head, std::string_view tail) {
    return std::string(head) + std::string(staging_option_help) + std::string(tail);
}

struct staging_args {
    ptio::stager_options stager;
    ptio::device_allocation allocation = ptio::device_allocation::per_device;
    unsigned threads = 0;  // 0: the library's default
    ptio::file_read read = ptio::file_read::pread;
};

/// Reads the shared options; throws usage_error naming the option and the value.
[[nodiscard]] staging_args parse_staging_args(const parsed_args& args);

/// A whole number option in [lo, hi]; `fallback` when absent. Throws usage_error otherwise.
[[nodiscard]] std::uint64_t number_option(const parsed_args& args, std::string_view name,
                                          std::uint64_t lo, std::uint64_t hi,
                                          std::uint64_t fallback);

/// The threads a load uses for `threads` (0: the documented default, the cores, at most 12).
[[nodiscard]] unsigned effective_threads(unsigned threads) noexcept;

[[nodiscard]] std::string_view pinning_name(ptio::pinning p) noexcept;        // "alloc"
[[nodiscard]] std::string_view allocation_name(ptio::device_allocation a) noexcept;  // "device"
[[nodiscard]] std::string_view read_name(ptio::file_read r) noexcept;               // "pread"
[[nodiscard]] std::string_view cpu_placement_name(ptio::cpu_placement c) noexcept;   // "view"

/// Writes {"threads", "chunk_bytes", "chunks", "pinning", "allocation", "read"} members into the
/// object being written (the caller opened it).
void write_staging_members(json::writer& w, const staging_args& s);

}  // namespace ptio_cli
