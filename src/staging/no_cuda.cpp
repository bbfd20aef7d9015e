// The stand-in for builds without the CUDA toolkit: no devices, ever.
#include "ptio/device.hpp"

namespace ptio {
bool built_with_cuda() noexcept { return false; }
int cuda_device_count() noexcept { return 0; }
}  // namespace ptio
