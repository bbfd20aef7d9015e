// tools/ptio/bench_peers.hpp — what `bench` measures ptio against, in the same run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "page_cache.hpp"

namespace ptio_cli {

struct memcpy_runs {
    std::vector<double> seconds;  // per timed run
    std::uint64_t bytes = 0;      // per run: every distinct storage once
};

/// The peer of a CPU load: memcpy of every distinct storage out of the file's mapping into one
/// buffer allocated and touched before timing, on this thread; `repeat` timed runs after one
/// warm-up. Warm, the mapping stays open across runs (the roofline: its pages are mapped);
/// cold, it is closed, the file dropped and reopened before every timed run. Throws
/// ptio::error when the file cannot be opened.
[[nodiscard]] memcpy_runs time_memcpy(const std::string& file, int repeat, cold_runs& cold);

struct cuda_peer {
    std::uint64_t bytes = 0;  // copied per probe
    double pinned = 0;        // bytes per second
    double pageable = 0;      // bytes per second
};

/// The peer of a CUDA load: ptio::cuda_copy_bandwidth from pinned and from pageable memory
/// over min(to_move, 1 GiB) rounded up to whole MiB, medians of `repeat`. Throws
/// cuda_unavailable without the device.
[[nodiscard]] cuda_peer measure_cuda_peer(int ordinal, std::uint64_t to_move, int repeat);

}  // namespace ptio_cli
