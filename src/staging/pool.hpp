// pool — a stager's pinned chunks, CUDA streams and events (stager::impl), lent as leases.
//
// Chunks are allocated on first use, up to the configured count, and never freed before the
// stager dies, so repeated loads reuse the same pinned memory. acquire() lends the chunk
// returned longest ago (or a new one while fewer than options.chunks exist) and blocks while
// every chunk is lent out; try_acquire() does not block. A chunk_lease is the only handle on a
// lent chunk: move-only, it returns its chunk to the pool when it dies, so its holder must
// keep it until no copy reads from the chunk any more. Streams are created per device and per
// copying thread, events per chunk and per device (an event must belong to its stream's
// device). The pool and its leases are thread-safe (one lease is used by one thread at a
// time); the pool must outlive its leases, as a stager outlives the loads that use it.
// Failure: acquiring may throw what pinning throws (out_of_memory, cuda_unavailable); so may
// the first stream or event for a device. Returning a chunk never throws.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "ptio/stager.hpp"
#include "staging/backend.hpp"

namespace ptio {

struct stager::impl {
    explicit impl(const stager_options& o);
    ~impl();
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    /// The pool of `s`: the staging engine's way in (this header is private to it).
    [[nodiscard]] static impl& of(const stager& s) noexcept { return *s.impl_; }

    /// One lent chunk; empty once moved from.
    class chunk_lease {
    public:
        chunk_lease(chunk_lease&& o) noexcept : pool_(o.pool_), chunk_(o.chunk_) { o.pool_ = nullptr; }
        chunk_lease& operator=(chunk_lease&& o) noexcept;
        chunk_lease(const chunk_lease&) = delete;
        chunk_lease& operator=(const chunk_lease&) = delete;
        ~chunk_lease() { give_back(); }

        [[nodiscard]] explicit operator bool() const noexcept { return pool_ != nullptr; }
        /// The chunk's pinned bytes (options.chunk_bytes of them).
        [[nodiscard]] std::byte* host() const noexcept;
        /// The event that marks the end of a copy out of this chunk to `device`.
        [[nodiscard]] detail::gpu::event event(int device) const;

    private:
        friend struct impl;
        chunk_lease(impl* pool, std::size_t chunk) noexcept : pool_(pool), chunk_(chunk) {}
        void give_back() noexcept;

        impl* pool_;
        std::size_t chunk_;
    };

    /// A chunk; blocks while every chunk is lent out.
    [[nodiscard]] chunk_lease acquire();
    /// A chunk, or nothing when every chunk is lent out.
    [[nodiscard]] std::optional<chunk_lease> try_acquire();
    /// The stream a copying thread uses for a device.
    [[nodiscard]] detail::gpu::stream stream(int device, unsigned thread);

    stager_options options;
    std::atomic<std::size_t> pinned_bytes{0};

private:
    std::optional<std::size_t> take();  // with m_ held
    void release(std::size_t chunk) noexcept;
    detail::gpu::event event(std::size_t chunk, int device);

    struct pinned_chunk {
        std::byte* host = nullptr;
        std::vector<detail::gpu::event> events;  // by device ordinal; null until used
    };
    std::mutex m_;
    std::condition_variable freed_;
    std::vector<pinned_chunk> chunks_;  // reserved up front: addresses never move
    std::deque<std::size_t> free_;
    std::vector<std::vector<detail::gpu::stream>> streams_;  // [device][thread]
};

}  // namespace ptio
