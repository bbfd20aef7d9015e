// The load in flight: progress as pieces land, failure and cancelling, and the waits.
#include "staging/job.hpp"

#include <optional>
#include <string>

#include "ptio/error.hpp"
#include "staging/pool.hpp"

namespace ptio::detail {

namespace {

stager::impl& pool_of(const load_options& options) {
    return stager::impl::of(options.staging ? *options.staging : stager::shared());
}

[[noreturn]] void throw_stopped(const std::exception_ptr& e, const std::string& file) {
    if (e) std::rethrow_exception(e);
    throw error(errc::cancelled, file, {}, std::nullopt,
                "the load was cancelled before this tensor's bytes were all copied");
}

}  // namespace

load_job::load_job(const checkpoint& ck, const map_location& where, const load_options& options)
    : plan(ck, where, options, pool_of(options).options.chunk_bytes), options_(options),
      pool_(&pool_of(options)) {}

load_job::~load_job() {
    cancel();
    join();
}

void load_job::copier_done() noexcept {
    std::lock_guard lock(m_);
    if (--copiers_left_ == 0) {
        finished_ = true;
        changed_.notify_all();
    }
}

void load_job::complete(const load_plan::piece& p) {
    // Progress calls are serialised and see `done` in the order it grows: the count is
    // updated under the same lock that the call runs under (lock order: progress, then m_).
    std::unique_lock<std::mutex> in_order;
    if (options_.progress) in_order = std::unique_lock(progress_m_);
    std::uint64_t done = 0;
    bool landed = false;  // a storage became ready: wake its waiters
    {
        std::lock_guard lock(m_);
        plan.for_each_overlap(p, [&](const load_plan::slot& s, std::uint64_t lo, std::uint64_t hi) {
            if (s.remaining.fetch_sub(1, std::memory_order_release) == 1) landed = true;
            done_ += hi - lo;
        });
        done = done_;
    }
    if (landed) changed_.notify_all();
    // Pieces already in flight when the load stopped still land, but the callback that said
    // stop (or threw) hears nothing more.
    if (!options_.progress || stop_) return;
    bool go = true;
    try {
        go = options_.progress(done, plan.total);
    } catch (...) {
        fail(std::current_exception());
        return;
    }
    // A refusal is the load's outcome even if every piece then lands: the caller asked to stop.
    if (!go)
        fail(std::make_exception_ptr(error(errc::cancelled, plan.file, {}, std::nullopt,
                                           "the load was cancelled by its progress callback")));
}

void load_job::fail(std::exception_ptr e) noexcept {
    {
        std::lock_guard lock(m_);
        if (!error_) error_ = e;
    }
    stop_ = true;
    changed_.notify_all();
}

void load_job::cancel() noexcept { stop_ = true; }

void load_job::join() noexcept {
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

bool load_job::slot_ready(std::size_t i) const noexcept {
    return i == npos || plan.slots[i].remaining.load(std::memory_order_acquire) == 0;
}

void load_job::wait_slot(std::size_t i) const {
    if (slot_ready(i)) return;
    std::unique_lock lock(m_);
    changed_.wait(lock, [&] { return slot_ready(i) || finished_ || error_; });
    if (slot_ready(i)) return;
    throw_stopped(error_, plan.file);
}

bool load_job::all_ready() const noexcept {
    std::lock_guard lock(m_);
    return finished_ && !error_ && done_ == plan.total;
}

void load_job::wait_all() const {
    std::unique_lock lock(m_);
    changed_.wait(lock, [&] { return finished_; });
    if (error_ || done_ != plan.total) throw_stopped(error_, plan.file);
}

device_tensor load_job::place(const ptio::tensor& t) const {
    const std::size_t i = plan.slot_of(t);
    if (i == npos) return device_tensor::maker::make(&t, device::meta(), nullptr, 0, this, npos);
    const load_plan::slot& s = plan.slots[i];
    std::byte* data = s.dev.is_meta() ? nullptr : s.dst;
    return device_tensor::maker::make(&t, s.dev, data, s.dev.is_meta() ? 0 : s.nbytes, this, i);
}

}  // namespace ptio::detail
