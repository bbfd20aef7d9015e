// plan — what one load puts where: a slot per storage (its device, its place in an
// allocation), the allocations, and the pieces the copying threads move.
//
// Built on the caller's thread before any copy starts: map_location is resolved per storage,
// in the order tensors first reach it (the pickle's order, so the first tensors are the
// first to be ready); storages that move (CUDA, CPU copies) are laid out in one allocation
// per device, or one per storage, at 256-byte aligned offsets; device and host memory is
// allocated; every allocation is cut into pieces of at most one pinned chunk, devices
// interleaved so that loads to several GPUs proceed at once.
// Ownership: the plan owns that memory and frees it when destroyed, so whoever copies into
// it must have finished first. It keeps pointers into the checkpoint, which must outlive it.
// Thread safety: read-only once built, except each slot's count of pieces not yet landed,
// which is atomic.
// Failure: the constructor throws invalid_argument (cpu_placement::copy_on_write on a
// checkpoint that is not a private mapping), what map_location throws (cuda_unavailable,
// unknown_location), out_of_memory, or an error locating a CPU view's record; it frees what
// it took before throwing.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ptio/load.hpp"

namespace ptio::detail {

class storage;

struct load_plan {
    load_plan(const checkpoint& ck, const map_location& where, const load_options& options,
              std::uint64_t chunk_bytes);
    ~load_plan();
    load_plan(const load_plan&) = delete;
    load_plan& operator=(const load_plan&) = delete;

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    struct slot {
        const storage* st = nullptr;
        ptio::device dev;
        std::uint64_t nbytes = 0;
        std::size_t alloc = npos;   // index into allocs; npos: a view or meta
        std::uint64_t offset = 0;   // within its allocation
        std::byte* dst = nullptr;   // where the bytes live for the consumer
        // Pieces not yet landed: the one field that changes once the plan is made.
        mutable std::atomic<std::uint32_t> remaining{0};
    };
    struct allocation {
        ptio::device dev;
        std::uint64_t size = 0;
        std::byte* base = nullptr;
        std::vector<std::size_t> slots;  // by offset
        bool host = false;               // a CPU copy (aligned_alloc), else device memory
    };
    struct piece {
        std::size_t alloc;
        std::uint64_t begin, end;  // bytes of the allocation
    };

    /// The slot of a tensor of the checkpoint (npos: it has no storage).
    [[nodiscard]] std::size_t slot_of(const ptio::tensor& t) const noexcept;
    /// Calls f(slot, lo, hi) for each non-empty slot that `p` covers, with the bytes [lo, hi)
    /// of the allocation it covers, in offset order.
    template <class F>
    void for_each_overlap(const piece& p, F&& f) const;
    [[nodiscard]] std::vector<device_summary> summary(std::span<const device_tensor> placed) const;

    std::string file;
    std::deque<slot> slots;  // a deque: atomics never move
    std::vector<allocation> allocs;
    std::vector<piece> pieces;
    std::uint64_t total = 0;  // bytes to move
    bool writable_views = false;  // CPU views of a private mapping (cpu_placement::copy_on_write)

private:
    void allocate();
    void free_memory() noexcept;

    std::vector<std::pair<const ptio::tensor*, std::size_t>> tensor_slots_;  // sorted by tensor
};

template <class F>
void load_plan::for_each_overlap(const piece& p, F&& f) const {
    const allocation& a = allocs[p.alloc];
    auto it = std::partition_point(a.slots.begin(), a.slots.end(), [&](std::size_t i) {
        return slots[i].offset + slots[i].nbytes <= p.begin;
    });
    for (; it != a.slots.end() && slots[*it].offset < p.end; ++it) {
        const slot& s = slots[*it];
        if (s.nbytes == 0) continue;
        const std::uint64_t lo = std::max(p.begin, s.offset);
        const std::uint64_t hi = std::min(p.end, s.offset + s.nbytes);
        f(s, lo, hi);
    }
}

}  // namespace ptio::detail
