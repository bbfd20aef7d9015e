// The CUDA seam: the only translation units that include CUDA headers live in this folder.
#include <cuda_runtime_api.h>

#include "ptio/device.hpp"

namespace ptio {

bool built_with_cuda() noexcept { return true; }

int cuda_device_count() noexcept {
    int n = 0;
    // No driver or no device is not an error here: it is zero devices.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

}  // namespace ptio
