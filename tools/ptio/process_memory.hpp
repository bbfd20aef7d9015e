// tools/ptio/process_memory.hpp — this process's resident memory, for `bench`: the current
// and peak resident set (/proc/self/status VmRSS, VmHWM), getrusage's ru_maxrss, and resetting
// the peak (/proc/self/clear_refs) so that it measures one stretch of work.
//
// Linux only; elsewhere, or where /proc is not readable, the figures are absent (nullopt) and
// the reset reports false. Not thread-safe in the sense that other threads' allocations count
// too: the figures are the whole process's.
#pragma once

#include <cstdint>
#include <optional>

namespace ptio_cli {

/// VmRSS: resident bytes now.
[[nodiscard]] std::optional<std::uint64_t> resident_bytes();
/// VmHWM: the most bytes resident at once since the process started or the last reset.
[[nodiscard]] std::optional<std::uint64_t> peak_resident_bytes();
/// getrusage(RUSAGE_SELF).ru_maxrss in bytes (the kernel resets it with VmHWM).
[[nodiscard]] std::uint64_t max_rss_bytes() noexcept;
/// Writes "5" to /proc/self/clear_refs, which sets the peak to the current resident set.
/// Returns true when the write was accepted and VmHWM then reads no more than VmRSS plus the
/// kernel's counting slack; false (the peak unchanged) where it is not permitted.
[[nodiscard]] bool reset_peak_resident() noexcept;

}  // namespace ptio_cli
