// ptio/device.hpp — where a tensor lives, and what accelerators this process can use.
//
//   auto d = ptio::device::parse("cuda:1");   // {cuda, 1}; d.str() == "cuda:1"
//
// CUDA sits behind one seam (src/staging/cuda/): a build without the toolkit, or a run without
// a driver or device, reports zero devices here and never fails to link or load.
// Thread-safety: every function here may be called from many threads at once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ptio {

/// A place for tensor data, as torch names it: "cpu", "cuda", "cuda:N" or "meta".
struct device {
    enum class type : unsigned char { cpu, cuda, meta };

    type kind = type::cpu;
    /// The CUDA ordinal; -1 for "cuda" without one (the current device, 0 in ptio) and for
    /// cpu and meta.
    int index = -1;

    [[nodiscard]] static constexpr device cpu() noexcept { return {}; }
    [[nodiscard]] static constexpr device meta() noexcept { return {type::meta, -1}; }
    [[nodiscard]] static constexpr device cuda(int index = 0) noexcept { return {type::cuda, index}; }

    /// Parse torch's spelling: "cpu", "meta", "cuda", "cuda:N" (also "cpu:0" is "cpu").
    /// Throws invalid_argument for anything else, naming the text.
    [[nodiscard]] static device parse(std::string_view text);

    /// As torch prints it: "cpu", "cuda:0", "meta" ("cuda" when index is -1).
    [[nodiscard]] std::string str() const;
    [[nodiscard]] bool is_cpu() const noexcept { return kind == type::cpu; }
    [[nodiscard]] bool is_cuda() const noexcept { return kind == type::cuda; }
    [[nodiscard]] bool is_meta() const noexcept { return kind == type::meta; }
    /// The ordinal a CUDA device means: index, or 0 for a bare "cuda".
    [[nodiscard]] int ordinal() const noexcept { return index < 0 ? 0 : index; }

    friend bool operator==(const device& a, const device& b) noexcept {
        return a.kind == b.kind && (a.kind != type::cuda || a.ordinal() == b.ordinal());
    }
};

/// True when ptio was built with the CUDA runtime (PTIO_WITH_CUDA).
[[nodiscard]] bool built_with_cuda() noexcept;

/// CUDA devices usable now: 0 without a toolkit at build time, a driver or a device.
[[nodiscard]] int cuda_device_count() noexcept;

/// The device's name as the driver gives it ("NVIDIA H100 80GB HBM3"); throws
/// cuda_unavailable when there is no such device.
[[nodiscard]] std::string cuda_device_name(int ordinal);

/// A CUDA device's memory as the driver reports it now.
struct cuda_memory {
    std::size_t free = 0;
    std::size_t total = 0;
};
/// Throws cuda_unavailable when there is no such device.
[[nodiscard]] cuda_memory cuda_memory_info(int ordinal);

/// Which host memory a bandwidth probe copies from.
enum class host_memory : unsigned char {
    pinned,    ///< page-locked (cudaHostAlloc): the DMA engine reads it directly
    pageable,  ///< ordinary malloc'd memory: the driver stages it through its own buffers
};

/// Host-to-device copy bandwidth of one GPU in bytes per second: `bytes` copied from host
/// memory of the given kind with cudaMemcpyAsync on a non-default stream, `repeats` times after
/// one warm-up, timed with CUDA events; the median is returned. This is the figure ptio's
/// loads are measured against (`ptio bench`). Throws cuda_unavailable without that device.
[[nodiscard]] double cuda_copy_bandwidth(int ordinal, std::size_t bytes, host_memory from,
                                         int repeats = 5);

}  // namespace ptio
