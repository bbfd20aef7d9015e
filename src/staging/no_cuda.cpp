// The stand-in for builds without the CUDA toolkit: no devices, ever, and every request for
// one fails with cuda_unavailable.
#include "ptio/device.hpp"
#include "ptio/error.hpp"
#include "staging/backend.hpp"

namespace ptio {

namespace {
[[noreturn]] void unavailable() {
    throw error(errc::cuda_unavailable,
                "no CUDA device is available: ptio was built without CUDA (PTIO_WITH_CUDA=OFF or "
                "no toolkit found); pass map_location=cpu");
}
}  // namespace

bool built_with_cuda() noexcept { return false; }
int cuda_device_count() noexcept { return 0; }
std::string cuda_device_name(int) { unavailable(); }
cuda_memory cuda_memory_info(int) { unavailable(); }
double cuda_copy_bandwidth(int, std::size_t, host_memory, int) { unavailable(); }

namespace detail::gpu {
void* alloc_device(int, std::size_t) { unavailable(); }
void free_device(int, void*) noexcept {}
void* alloc_pinned(std::size_t, pinning) { unavailable(); }
void free_pinned(void*, pinning) noexcept {}
stream create_stream(int) { unavailable(); }
void destroy_stream(int, stream) noexcept {}
event create_event(int) { unavailable(); }
void destroy_event(int, event) noexcept {}
void copy_async(int, void*, const void*, std::size_t, stream, event) { unavailable(); }
void synchronize(int, event) { unavailable(); }
bool query(int, event) { unavailable(); }
void copy_to_host(int, void*, const void*, std::size_t) { unavailable(); }
}  // namespace detail::gpu

}  // namespace ptio
