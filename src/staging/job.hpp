// job — one load in flight: its plan (plan.hpp), the threads that carry it out, and what
// consumers wait on.
//
// start() runs the copying threads (copier.cpp); each holds a few leased pinned chunks of the
// pool for the whole load:
//   take the next piece → (CUDA) take one of its chunks that is idle, else lease one more from
//   the pool while under its share, else wait for its own oldest copy → read the piece's
//   storage bytes into the chunk (pread from the file, or memcpy from the mapping) →
//   cudaMemcpyAsync + event on its own stream.   (CPU copy: straight into the host allocation.)
// Before each piece a thread counts its copies that have landed (cudaEventQuery), so a
// storage whose last piece landed is ready at once; at the end it waits for the rest and its
// leases return their chunks. No thread waits behind another's copy, and no hand-off sits
// between a copy landing and its chunk's reuse. Cancelling stops new pieces; pieces in flight
// still land.
// Ownership: the job keeps pointers into the checkpoint and the stager, which outlive it.
// Its destructor cancels and joins the threads (so no copy is in flight) before the plan
// frees every allocation.
// Thread safety: the waits and readiness queries may be called from any thread; start() once,
// from the thread that built the job.
// Failure: the constructor throws what planning throws; a copying thread's error (or the
// progress callback's) stops the load and is rethrown by the waits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "ptio/load.hpp"
#include "staging/plan.hpp"

namespace ptio::detail {

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

    static constexpr std::size_t npos = load_plan::npos;

    load_plan plan;

private:
    void copier(unsigned id, std::size_t share);
    void copier_done() noexcept;
    void fill(const load_plan::piece& p, std::byte* out) const;
    void complete(const load_plan::piece& p);
    void fail(std::exception_ptr e) noexcept;
    void join() noexcept;

    load_options options_;
    stager::impl* pool_ = nullptr;

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

namespace ptio {

/// The only way to build a device_tensor: the job places each tensor of its checkpoint.
struct device_tensor::maker {
    [[nodiscard]] static device_tensor make(const ptio::tensor* src, ptio::device dev,
                                            std::byte* storage, std::uint64_t nbytes,
                                            const detail::load_job* job,
                                            std::size_t slot) noexcept {
        return device_tensor(src, dev, storage, nbytes, job, slot);
    }
};

}  // namespace ptio
