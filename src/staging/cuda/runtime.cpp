// The CUDA seam: the only translation units that include CUDA headers live in this folder.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "ptio/device.hpp"
#include "ptio/error.hpp"
#include "staging/backend.hpp"

namespace ptio {

namespace {

// One failed call: out_of_memory for allocations the device or driver refused, otherwise
// cuda_unavailable (no driver, no device, a device in a bad state), with CUDA's own words.
void check(cudaError_t rc, const char* call, int device = -1) {
    if (rc == cudaSuccess) return;
    (void)cudaGetLastError();  // clear the sticky-free error state for the next call
    const std::string where = device >= 0 ? "cuda:" + std::to_string(device) + ": " : "";
    const errc code = rc == cudaErrorMemoryAllocation ? errc::out_of_memory : errc::cuda_unavailable;
    throw error(code, where + call + " failed: " + cudaGetErrorName(rc) + " (" +
                          cudaGetErrorString(rc) + ")");
}

void use(int device) {
    int n = cuda_device_count();
    if (device < 0 || device >= n)
        throw error(errc::cuda_unavailable,
                    "no CUDA device " + std::to_string(device) + " (" + std::to_string(n) +
                        " available); pass map_location=cpu");
    check(cudaSetDevice(device), "cudaSetDevice", device);
}

}  // namespace

bool built_with_cuda() noexcept { return true; }

int cuda_device_count() noexcept {
    // Asked once: the answer does not change within a process, and the query is not free.
    static const int count = [] {
        int n = 0;
        // No driver or no device is not an error here: it is zero devices.
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            (void)cudaGetLastError();
            return 0;
        }
        return n;
    }();
    return count;
}

std::string cuda_device_name(int ordinal) {
    use(ordinal);
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, ordinal), "cudaGetDeviceProperties", ordinal);
    return prop.name;
}

cuda_memory cuda_memory_info(int ordinal) {
    use(ordinal);
    cuda_memory m;
    check(cudaMemGetInfo(&m.free, &m.total), "cudaMemGetInfo", ordinal);
    return m;
}

double cuda_copy_bandwidth(int ordinal, std::size_t bytes, host_memory from, int repeats) {
    use(ordinal);
    if (bytes == 0 || repeats < 1) throw error(errc::invalid_argument, "bandwidth probe of 0 bytes");
    void* host = nullptr;
    std::unique_ptr<std::byte[]> pageable;
    if (from == host_memory::pinned) {
        check(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "cudaHostAlloc", ordinal);
    } else {
        pageable.reset(new std::byte[bytes]);
        host = pageable.get();
    }
    std::memset(host, 0x5a, bytes);  // touch every page: a probe must not time page faults
    void* dev = nullptr;
    cudaStream_t s = nullptr;
    cudaEvent_t t0 = nullptr, t1 = nullptr;
    auto cleanup = [&] {
        if (t0) cudaEventDestroy(t0);
        if (t1) cudaEventDestroy(t1);
        if (s) cudaStreamDestroy(s);
        if (dev) cudaFree(dev);
        if (from == host_memory::pinned && host) cudaFreeHost(host);
    };
    std::vector<float> ms;
    try {
        check(cudaMalloc(&dev, bytes), "cudaMalloc", ordinal);
        check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate", ordinal);
        check(cudaEventCreate(&t0), "cudaEventCreate", ordinal);
        check(cudaEventCreate(&t1), "cudaEventCreate", ordinal);
        for (int i = 0; i <= repeats; ++i) {  // the first round warms up
            check(cudaEventRecord(t0, s), "cudaEventRecord", ordinal);
            check(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync",
                  ordinal);
            check(cudaEventRecord(t1, s), "cudaEventRecord", ordinal);
            check(cudaEventSynchronize(t1), "cudaEventSynchronize", ordinal);
            float m = 0;
            check(cudaEventElapsedTime(&m, t0, t1), "cudaEventElapsedTime", ordinal);
            if (i > 0) ms.push_back(m);
        }
    } catch (...) {
        cleanup();
        throw;
    }
    cleanup();
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2] / 1e3;
    return static_cast<double>(bytes) / median;
}

namespace detail::gpu {

void* alloc_device(int device, std::size_t bytes) {
    use(device);
    void* p = nullptr;
    if (bytes == 0) return nullptr;
    cudaError_t rc = cudaMalloc(&p, bytes);
    if (rc == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        std::size_t free = 0, total = 0;
        (void)cudaMemGetInfo(&free, &total);
        throw error(errc::out_of_memory,
                    "cuda:" + std::to_string(device) + ": out of memory allocating " +
                        std::to_string(bytes) + " bytes (" + std::to_string(free) + " of " +
                        std::to_string(total) + " free)");
    }
    check(rc, "cudaMalloc", device);
    return p;
}

void free_device(int device, void* p) noexcept {
    if (!p) return;
    (void)cudaSetDevice(device);
    (void)cudaFree(p);
}

void* alloc_pinned(std::size_t bytes, pinning how) {
    if (cuda_device_count() == 0) use(0);
    void* p = nullptr;
    if (how == pinning::host_alloc) {
        check(cudaHostAlloc(&p, bytes, cudaHostAllocPortable), "cudaHostAlloc");
        return p;
    }
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t rounded = (bytes + page - 1) / page * page;
    p = std::aligned_alloc(page, rounded);
    if (!p) throw error(errc::out_of_memory, "out of host memory for a pinned chunk");
    std::memset(p, 0, rounded);  // fault the pages in before pinning them
    cudaError_t rc = cudaHostRegister(p, rounded, cudaHostRegisterPortable);
    if (rc != cudaSuccess) {
        std::free(p);
        check(rc, "cudaHostRegister");
    }
    return p;
}

void free_pinned(void* p, pinning how) noexcept {
    if (!p) return;
    if (how == pinning::host_alloc) {
        (void)cudaFreeHost(p);
    } else {
        (void)cudaHostUnregister(p);
        std::free(p);
    }
}

stream create_stream(int device) {
    use(device);
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate", device);
    return s;
}

void destroy_stream(int device, stream s) noexcept {
    (void)cudaSetDevice(device);
    (void)cudaStreamDestroy(static_cast<cudaStream_t>(s));
}

event create_event(int device) {
    use(device);
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate", device);
    return e;
}

void destroy_event(int device, event e) noexcept {
    (void)cudaSetDevice(device);
    (void)cudaEventDestroy(static_cast<cudaEvent_t>(e));
}

void copy_async(int device, void* dst, const void* src, std::size_t bytes, stream s, event done) {
    check(cudaSetDevice(device), "cudaSetDevice", device);
    auto cs = static_cast<cudaStream_t>(s);
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cs), "cudaMemcpyAsync", device);
    check(cudaEventRecord(static_cast<cudaEvent_t>(done), cs), "cudaEventRecord", device);
}

void synchronize(int device, event e) {
    check(cudaEventSynchronize(static_cast<cudaEvent_t>(e)), "cudaEventSynchronize", device);
}

bool query(int device, event e) {
    const cudaError_t rc = cudaEventQuery(static_cast<cudaEvent_t>(e));
    if (rc == cudaErrorNotReady) return false;
    check(rc, "cudaEventQuery", device);
    return true;
}

void copy_to_host(int device, void* dst, const void* src, std::size_t bytes) {
    use(device);
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy", device);
}

}  // namespace detail::gpu
}  // namespace ptio
