// The pinned pool: chunk bookkeeping and leases, and the stager that owns them.
#include "staging/pool.hpp"

#include <algorithm>

#include "ptio/error.hpp"

namespace ptio {

stager::impl::impl(const stager_options& o) : options(o) {
    if (options.chunk_bytes < 4096 || options.chunks < 1)
        throw error(errc::invalid_argument,
                    "a stager needs at least one chunk of at least 4096 bytes (asked: " +
                        std::to_string(options.chunks) + " × " +
                        std::to_string(options.chunk_bytes) + ")");
    chunks_.reserve(options.chunks);
}

stager::impl::~impl() {
    for (auto& c : chunks_) {
        for (std::size_t d = 0; d < c.events.size(); ++d)
            if (c.events[d]) detail::gpu::destroy_event(static_cast<int>(d), c.events[d]);
        detail::gpu::free_pinned(c.host, options.pin);
    }
    for (std::size_t d = 0; d < streams_.size(); ++d)
        for (auto s : streams_[d])
            if (s) detail::gpu::destroy_stream(static_cast<int>(d), s);
}

std::optional<std::size_t> stager::impl::take() {
    if (free_.empty() && chunks_.size() < options.chunks) {
        // Allocated under the lock: pinning takes milliseconds, but a pool grows only during
        // its first loads, and the lock keeps the count within the cap.
        pinned_chunk c;
        c.host = static_cast<std::byte*>(detail::gpu::alloc_pinned(options.chunk_bytes, options.pin));
        chunks_.push_back(std::move(c));
        pinned_bytes += options.chunk_bytes;
        return chunks_.size() - 1;
    }
    if (free_.empty()) return std::nullopt;
    const std::size_t i = free_.front();
    free_.pop_front();
    return i;
}

stager::impl::chunk_lease stager::impl::acquire() {
    std::unique_lock lock(m_);
    std::optional<std::size_t> c;
    freed_.wait(lock, [&] { return (c = take()).has_value(); });
    return chunk_lease(this, *c);
}

std::optional<stager::impl::chunk_lease> stager::impl::try_acquire() {
    std::lock_guard lock(m_);
    if (const auto c = take()) return chunk_lease(this, *c);
    return std::nullopt;
}

void stager::impl::release(std::size_t chunk) noexcept {
    {
        std::lock_guard lock(m_);
        free_.push_back(chunk);
    }
    freed_.notify_one();
}

stager::impl::chunk_lease& stager::impl::chunk_lease::operator=(chunk_lease&& o) noexcept {
    if (this != &o) {
        give_back();
        pool_ = o.pool_;
        chunk_ = o.chunk_;
        o.pool_ = nullptr;
    }
    return *this;
}

void stager::impl::chunk_lease::give_back() noexcept {
    if (pool_) pool_->release(chunk_);
    pool_ = nullptr;
}

std::byte* stager::impl::chunk_lease::host() const noexcept { return pool_->chunks_[chunk_].host; }

detail::gpu::event stager::impl::chunk_lease::event(int device) const {
    return pool_->event(chunk_, device);
}

detail::gpu::stream stager::impl::stream(int device, unsigned thread) {
    std::lock_guard lock(m_);
    const auto d = static_cast<std::size_t>(device);
    if (streams_.size() <= d) streams_.resize(d + 1);
    auto& list = streams_[d];
    if (list.size() <= thread) list.resize(thread + 1, nullptr);
    if (!list[thread]) list[thread] = detail::gpu::create_stream(device);
    return list[thread];
}

detail::gpu::event stager::impl::event(std::size_t chunk, int device) {
    std::lock_guard lock(m_);
    auto& events = chunks_[chunk].events;
    const auto d = static_cast<std::size_t>(device);
    if (events.size() <= d) events.resize(d + 1, nullptr);
    if (!events[d]) events[d] = detail::gpu::create_event(device);
    return events[d];
}

stager::stager(const stager_options& options) : impl_(std::make_unique<impl>(options)) {}
stager::stager(stager&&) noexcept = default;
stager& stager::operator=(stager&&) noexcept = default;
stager::~stager() = default;

stager& stager::shared() {
    // Never destroyed: at exit the CUDA runtime may already be gone, and the process's pinned
    // memory goes with it anyway.
    static stager* s = new stager();
    return *s;
}

const stager_options& stager::options() const noexcept { return impl_->options; }
std::size_t stager::pinned_bytes() const noexcept { return impl_->pinned_bytes.load(); }

}  // namespace ptio
