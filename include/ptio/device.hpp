// ptio/device.hpp — what accelerators this process can use.
//
// CUDA sits behind one seam (src/staging/cuda/): a build without the toolkit, or a run without
// a driver or device, reports zero devices here and never fails to link or load. Thread-safe.
#pragma once

namespace ptio {

/// True when ptio was built with the CUDA runtime (PTIO_WITH_CUDA).
[[nodiscard]] bool built_with_cuda() noexcept;

/// CUDA devices usable now: 0 without a toolkit at build time, a driver or a device.
[[nodiscard]] int cuda_device_count() noexcept;

}  // namespace ptio
