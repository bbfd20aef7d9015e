// job — one load in flight: where each storage goes, the memory it goes into, and the
// threads that move it there.
//
// Planning (the constructor, on the caller's thread) resolves map_location per storage,
// lays storages out in their allocations (256-byte aligned), allocates device and host
// memory, and cuts every allocation into pieces of at most one chunk. start() runs the
// copying threads; each holds a few pinned chunks of the pool for the whole load:
//   take the next piece → (CUDA) take one of its chunks that is idle, else one more from the
//   pool while under its share, else wait for its own oldest copy → read the piece's storage
//   bytes into the chunk (pread from the file, or memcpy from the mapping) → cudaMemcpyAsync +
//   event on its own stream.   (CPU copy: straight into the host allocation.)
// Before each piece a thread counts its copies that have landed (cudaEventQuery), so a
// storage whose last piece landed is ready at once; at the end it waits for the rest and
// returns its chunks. No thread waits behind another's copy, and no hand-off sits between
// a copy landing and its chunk's reuse. Cancelling stops new pieces; pieces in flight still
// land. The destructor cancels, joins the threads (so no copy is in flight) and frees every
// allocation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ptio/load.hpp"

namespace ptio::detail {

class storage;

struct load_job {
    load_job(const checkpoint& ck, const map_location& where, const load_options& options);
    ~load_job();
    load_job(const load_job&) = delete;
    load_job& operator=(const load_job&) = delete;

    void start();
    void cancel() noexcept;

    [[nodiscard]] bool slot_ready(std::size_t slot) const noexcept;
    void wait_slot(std::size_t slot) const;
    [[nodiscard]] bool all_ready() const noexcept;
    void wait_all() const;

    /// The placement of tensor `t`, for loaded to keep.
    [[nodiscard]] device_tensor place(const ptio::tensor& t) const;
    [[nodiscard]] std::vector<device_summary> summary(std::span<const device_tensor> placed) const;

    struct slot {
        const storage* st = nullptr;
        ptio::device dev;
        std::uint64_t nbytes = 0;
        std::size_t alloc = npos;   // index into allocs; npos: a view or meta
        std::uint64_t offset = 0;   // within its allocation
        std::byte* dst = nullptr;   // where the bytes live for the consumer
        std::atomic<std::uint32_t> remaining{0};  // pieces not yet landed
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
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    std::string file;
    std::deque<slot> slots;
    std::vector<allocation> allocs;
    std::vector<piece> pieces;
    std::uint64_t total = 0;  // bytes to move
    bool writable_views = false;  // CPU views of a private mapping (cpu_placement::copy_on_write)

private:
    void copier(unsigned id, std::size_t share);
    void copier_done() noexcept;
    void fill(const piece& p, std::byte* out) const;
    void complete(const piece& p);
    void fail(std::exception_ptr e) noexcept;
    void join() noexcept;
    void free_memory() noexcept;
    template <class F>
    void for_each_overlap(const piece& p, F&& f) const;

    load_options options_;
    stager::impl* pool_ = nullptr;
    bool release_pages_ = false;
    std::vector<std::pair<const ptio::tensor*, std::size_t>> tensor_slots_;  // sorted by tensor

    std::atomic<std::size_t> next_{0};
    std::atomic<bool> stop_{false};
    mutable std::mutex m_;  // done_, finished_, error_, copiers_left_; slot readiness changes
    mutable std::condition_variable changed_;
    std::uint64_t done_ = 0;
    bool finished_ = false;
    std::exception_ptr error_;
    unsigned copiers_left_ = 0;
    std::mutex progress_m_;
    std::vector<std::thread> threads_;
};

}  // namespace ptio::detail
