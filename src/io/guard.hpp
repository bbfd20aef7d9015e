// guard — reads of a mapping that survive the file shrinking under it.
//
// A page of a mapping past the end of its file raises SIGBUS when touched: torch.save
// rewriting a path in place, or a download being replaced, shrinks a file while ptio maps it.
// Every read ptio makes from a mapping for its own work (headers read lazily, CRCs, inflating,
// copies, hashing, staging, saving) runs through guarded() or guarded_copy(): a SIGBUS at an
// address inside the guarded range, on the guarding thread, becomes
// ptio::error(io_error, "<file>: at offset <n>: the file shrank while it was being read: was it
// overwritten?"). A SIGBUS anywhere else goes to the handler that was installed before ptio's
// (or the default action, which ends the process), so ptio never hides someone else's fault.
//
// Ownership: nothing is owned; the process-wide handler is installed on the first guarded
// read and stays. Thread safety: every thread has its own guards; guards nest. Failure: the
// error names the mapped file and the file offset of the page that faulted (from the
// registry mapped_file keeps), and the record when the caller names one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace ptio::detail {

/// The sentence every "the file changed under us" error carries.
inline constexpr std::string_view shrank_message =
    "the file shrank while it was being read: was it overwritten?";

/// Run fn(ctx) with SIGBUS at [lo, lo + n) caught. Returns false, with the faulting address in
/// `fault`, when one was. fn must not throw, and the frames it runs must hold no object with
/// a non-trivial destructor at a point that reads the range: a fault leaves them by
/// siglongjmp. Async-signal-safe it need not be.
[[nodiscard]] bool run_guarded(const std::byte* lo, std::size_t n, void (*fn)(void*) noexcept,
                               void* ctx, const std::byte*& fault) noexcept;

/// Throw the shrank error for a fault at `at`: the mapped file holding it and its offset.
[[noreturn]] void throw_shrank(const std::byte* at, std::string_view record);
/// Throw the shrank error for `file` at `offset` (what pread reports as an early end).
[[noreturn]] void throw_shrank(const std::string& file, std::string_view record,
                               std::uint64_t offset);
/// mapped_file's registry of live mappings, so that a fault names its file and a read can ask
/// the file's current size (`fd`: its open descriptor). Thread-safe.
void register_mapping(const std::byte* base, std::size_t size, std::string file, int fd);
void unregister_mapping(const std::byte* base) noexcept;

/// The name and size of the mapping that holds `at`, if one does (for EFAULT from a system
/// call handed mapped bytes: the same fault, seen by the kernel).
[[nodiscard]] bool mapping_of(const std::byte* at, std::string* file, std::uint64_t* offset);

/// Run `leaf()` with faults inside `range` turned into the shrank error. The leaf must be
/// a plain loop or a C function over the bytes (memcpy, a CRC, zlib's inflate): no
/// exceptions, no live objects with destructors where it reads.
template <class Leaf>
void guarded(std::span<const std::byte> range, std::string_view record, Leaf&& leaf) {
    using leaf_type = std::remove_reference_t<Leaf>;
    const std::byte* fault = nullptr;
    void (*call)(void*) noexcept = [](void* p) noexcept { (*static_cast<leaf_type*>(p))(); };
    if (!run_guarded(range.data(), range.size(), call,
                     const_cast<void*>(static_cast<const void*>(&leaf)), fault))
        throw_shrank(fault, record);
}

/// Throw the shrank error if `range` lies in a mapping whose file now ends before the range
/// does. A file cut inside a page does not fault: the rest of that page reads as zeros, which
/// only the file's size tells apart from its bytes. One fstat; nothing for other memory.
void check_still_mapped(std::span<const std::byte> range, std::string_view record = {});

/// memcpy(dst, src.data(), src.size()) under one guard, then check_still_mapped(src).
void guarded_copy(std::byte* dst, std::span<const std::byte> src, std::string_view record = {});

}  // namespace ptio::detail
