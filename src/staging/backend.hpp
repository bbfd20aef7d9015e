// backend — the few CUDA runtime calls the staging engine needs, behind the seam.
//
// cuda/runtime.cpp implements these with the CUDA runtime; no_cuda.cpp is the stand-in for
// builds without the toolkit, where every call that needs a device throws cuda_unavailable.
// No CUDA header is included here: streams and events are opaque pointers.
// Every function that can fail throws ptio::error (cuda_unavailable, out_of_memory) naming
// the CUDA call and its error string; the *_free/destroy functions never throw.
#pragma once

#include <cstddef>

#include "ptio/stager.hpp"

namespace ptio::detail::gpu {

using stream = void*;
using event = void*;

void* alloc_device(int device, std::size_t bytes);
void free_device(int device, void* p) noexcept;
void* alloc_pinned(std::size_t bytes, pinning how);
void free_pinned(void* p, pinning how) noexcept;

stream create_stream(int device);
void destroy_stream(int device, stream s) noexcept;
event create_event(int device);
void destroy_event(int device, event e) noexcept;

/// Queue a host-to-device copy of pinned bytes on `s`, then record `done` on it.
void copy_async(int device, void* dst, const void* src, std::size_t bytes, stream s, event done);
/// Block until `e` has happened.
void synchronize(int device, event e);
/// Whether `e` has happened, without blocking.
[[nodiscard]] bool query(int device, event e);
/// Synchronous device-to-host copy (checks, not the fast path).
void copy_to_host(int device, void* dst, const void* src, std::size_t bytes);

}  // namespace ptio::detail::gpu
