// pool — a stager's pinned chunks, CUDA streams and events (stager::impl).
//
// Chunks are allocated on first use, up to the configured count, and never freed before the
// stager dies, so repeated loads reuse the same pinned memory. acquire() hands out the chunk
// freed longest ago and blocks while every chunk is lent out; try_acquire() does not block;
// release() returns one once the copy out of it has finished. Streams are created per device
// and per copying thread, events per chunk and per device (an event must belong to its
// stream's device). Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "ptio/load.hpp"
#include "staging/backend.hpp"

namespace ptio {

struct stager::impl {
    explicit impl(const stager_options& o);
    ~impl();
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    /// A free chunk's index; allocates a new chunk while fewer than options().chunks exist.
    [[nodiscard]] std::size_t acquire();
    /// A free chunk's index, or nothing when every chunk is lent out.
    [[nodiscard]] std::optional<std::size_t> try_acquire();
    void release(std::size_t chunk) noexcept;
    [[nodiscard]] std::byte* host(std::size_t chunk) const noexcept { return chunks_[chunk].host; }
    /// The stream a copying thread uses for a device.
    [[nodiscard]] detail::gpu::stream stream(int device, unsigned thread);
    /// The event that marks the end of a chunk's copy to a device.
    [[nodiscard]] detail::gpu::event event(std::size_t chunk, int device);

    stager_options options;
    std::atomic<std::size_t> pinned_bytes{0};

private:
    std::optional<std::size_t> take();  // with m_ held

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
