// ptio/stager.hpp — the pinned host buffers and CUDA streams that loads to a GPU go through.
//
//   ptio::stager pool({.chunk_bytes = 8 << 20, .chunks = 16});
//   auto m = ptio::load("model.pt", "cuda:0", {.staging = &pool});
//
// A stager allocates nothing until its first CUDA load, and frees everything when destroyed.
#pragma once

#include <cstddef>
#include <memory>

namespace ptio {

/// How a stager pins its host buffers.
enum class pinning : unsigned char {
    host_alloc,     ///< cudaHostAlloc
    host_register,  ///< page-aligned memory registered with cudaHostRegister
};

struct stager_options {
    /// Bytes of one pinned chunk: one cudaMemcpyAsync each. The defaults (4 MiB × 32, a
    /// 128 MiB pool) were the fastest measured on an H100: each copy costs the DMA engine
    /// about 3 µs besides its bytes, 7% of a 2 MiB copy at 55 GB/s and 4% of a 4 MiB one.
    std::size_t chunk_bytes = std::size_t{4} << 20;
    /// Chunks in the pool; the pool never holds more than chunks × chunk_bytes of pinned memory.
    std::size_t chunks = 32;
    pinning pin = pinning::host_alloc;
};

/// A pool of pinned host chunks plus CUDA streams and events, allocated on first use and
/// reused by every load that names it. Loads sharing a stager share its chunks (a chunk is
/// used by one copy at a time; each copy thread holds its share of chunks until its load is
/// done, so a load that starts while another holds the pool begins with fewer). Move-only;
/// must outlive the loads that use it (the shared one lives until exit). Thread-safe.
class stager {
public:
    explicit stager(const stager_options& options = {});
    stager(stager&&) noexcept;
    stager& operator=(stager&&) noexcept;
    stager(const stager&) = delete;
    stager& operator=(const stager&) = delete;
    ~stager();

    /// The process-wide stager used when load_options names none (default options).
    [[nodiscard]] static stager& shared();

    [[nodiscard]] const stager_options& options() const noexcept;
    /// Pinned host bytes this stager holds now (0 until its first CUDA load).
    [[nodiscard]] std::size_t pinned_bytes() const noexcept;

    struct impl;  ///< opaque

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace ptio
