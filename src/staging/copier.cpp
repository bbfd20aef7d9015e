// The copying threads: each reads pieces' file bytes into its leased pinned chunks and queues
// their copies to the device (or fills a host copy directly).
#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <system_error>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#include "io/guard.hpp"
#include "io/mapped_file.hpp"
#include "staging/backend.hpp"
#include "staging/job.hpp"
#include "staging/pool.hpp"
#include "torch/storage.hpp"

namespace ptio::detail {

namespace {

const std::uintptr_t page_size = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));

std::uintptr_t page_down(const std::byte* p) {
    return reinterpret_cast<std::uintptr_t>(p) / page_size * page_size;
}
std::uintptr_t page_up(const std::byte* p) {
    return (reinterpret_cast<std::uintptr_t>(p) + page_size - 1) / page_size * page_size;
}

// Pages of a read-only file mapping may be dropped once copied: they come back unchanged
// from the page cache if read again, and the process's resident memory stays near the pinned
// pool instead of growing to the file's size.
void drop_pages(const std::byte* lo, const std::byte* hi) noexcept {
    const auto a = page_up(lo), b = page_down(hi);
    if (a < b) (void)madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
}

// Map a range's pages in one call (Linux ≥ 5.14) rather than a fault per 64 KiB; the copy that
// follows then runs at memcpy speed. Older kernels refuse the advice, and the copy faults.
void prefault(const std::byte* lo, const std::byte* hi) noexcept {
#ifndef MADV_POPULATE_READ
    constexpr int MADV_POPULATE_READ = 22;
#endif
    const auto a = page_down(lo), b = page_up(hi);
    (void)madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_READ);
}

unsigned default_threads() {
    // 12 threads filled 2 MiB chunks fastest on a 16-core H100 host (README, Performance).
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return std::min(12u, hw);
}

using chunk_lease = stager::impl::chunk_lease;

// A copy in flight out of a leased chunk. Dying, it waits for the copy before the lease
// returns the chunk: after a failure the DMA engine may still be reading from it.
struct flight {
    chunk_lease chunk;
    std::size_t piece;
    int device;
    gpu::event done;

    flight(chunk_lease c, std::size_t p, int d, gpu::event e) noexcept
        : chunk(std::move(c)), piece(p), device(d), done(e) {}
    flight(flight&&) noexcept = default;
    flight& operator=(flight&&) = delete;
    ~flight() {
        if (!chunk) return;  // landed: the chunk went back to its thread's idle ones
        try {
            gpu::synchronize(device, done);
        } catch (...) {
        }
    }
};

}  // namespace

void load_job::start() {
    if (plan.pieces.empty()) {
        std::lock_guard lock(m_);
        finished_ = true;
        return;
    }
    const unsigned want = options_.threads ? options_.threads : default_threads();
    const auto n = static_cast<unsigned>(std::min<std::size_t>(want, plan.pieces.size()));
    // Each thread's share of the pool; a thread that cannot lease one more chunk reuses its own.
    const std::size_t share = std::max<std::size_t>(1, pool_->options.chunks / n);
    copiers_left_ = n;
    unsigned started = 0;
    try {
        for (; started < n; ++started)
            threads_.emplace_back([this, started, share] { copier(started, share); });
    } catch (const std::system_error&) {
        // Fewer threads than asked: stop, and let the ones running finish their copies.
        fail(std::current_exception());
        std::lock_guard lock(m_);
        copiers_left_ -= n - started;
        if (copiers_left_ == 0) finished_ = true;
        changed_.notify_all();
    }
}

void load_job::fill(const load_plan::piece& p, std::byte* out) const {
    // The piece's runs: one per storage it covers, zero-filling the alignment padding.
    struct run {
        const std::byte* from;
        std::byte* to;
        std::uint64_t n;
        const mapped_file* file;  // a stored record of this file (null: a copy or memory)
    };
    std::vector<run> runs;
    std::uint64_t at = p.begin;  // next byte of `out` to write
    plan.for_each_overlap(p, [&](const load_plan::slot& s, std::uint64_t lo, std::uint64_t hi) {
        if (lo > at) std::memset(out + (at - p.begin), 0, lo - at);
        // The file's bytes even where a typed view would need an aligned copy (legacy blobs).
        bool in_file = false;
        const std::span<const std::byte> src = s.st->copy_source(in_file);
        // Each storage's own file: a sharded checkpoint's storages lie in several.
        const mapped_file* f = s.st->file();
        if (f && (!f->is_file() || !in_file)) f = nullptr;
        runs.push_back({src.data() + (lo - s.offset), out + (lo - p.begin), hi - lo, f});
        at = hi;
    });
    if (at < p.end) std::memset(out + (at - p.begin), 0, p.end - at);

    if (options_.read == file_read::pread) {
        constexpr std::uint64_t small = 64 << 10;
        for (const run& r : runs) {
            if (r.file && r.n >= small)
                r.file->read_at(static_cast<std::uint64_t>(r.from - r.file->bytes().data()),
                                {r.to, r.n});
            else
                guarded_copy(r.to, {r.from, r.n});
        }
        return;
    }
    // mmap: map the pages of neighbouring runs in one call, copy, and release them (only a
    // read-only mapping's pages: they come back unchanged from the page cache).
    for (std::size_t i = 0; i < runs.size();) {
        std::size_t j = i + 1;
        const std::byte* lo = runs[i].from;
        const std::byte* hi = lo + runs[i].n;
        // Only runs of one mapping: the gap between two files' mappings is not ours to drop.
        while (j < runs.size() && runs[j].file == runs[i].file && runs[j].from >= hi &&
               runs[j].from - hi < (1 << 20)) {
            hi = runs[j].from + runs[j].n;
            ++j;
        }
        if (runs[i].file) prefault(lo, hi);
        // Guarded: a file that shrinks under the mapping fails the load with io_error.
        for (std::size_t k = i; k < j; ++k) guarded_copy(runs[k].to, {runs[k].from, runs[k].n});
        if (runs[i].file && runs[i].file->is_read_only_mapping()) drop_pages(lo, hi);
        i = j;
    }
}

void load_job::copier(unsigned id, std::size_t share) {
    std::deque<flight> busy;           // this thread's copies in flight, oldest first
    std::vector<chunk_lease> idle;     // its chunks with no copy in flight
    std::vector<gpu::stream> streams;  // its stream per device ordinal, once asked for
    // Count the oldest copy's piece once it has landed (waiting for it, or only looking).
    const auto land = [&](bool wait) {
        flight& f = busy.front();
        if (wait)
            gpu::synchronize(f.device, f.done);
        else if (!gpu::query(f.device, f.done))
            return false;
        idle.push_back(std::move(f.chunk));
        const std::size_t piece = f.piece;
        busy.pop_front();
        complete(plan.pieces[piece]);
        return true;
    };
    try {
        while (!stop_.load(std::memory_order_relaxed)) {
            while (!busy.empty() && land(false)) {
            }
            const std::size_t i = next_.fetch_add(1);
            if (i >= plan.pieces.size()) break;
            const load_plan::piece& p = plan.pieces[i];
            const load_plan::allocation& a = plan.allocs[p.alloc];
            if (a.host) {
                fill(p, a.base + p.begin);
                complete(p);
                continue;
            }
            if (idle.empty()) {
                std::optional<chunk_lease> c;
                if (busy.size() < share) c = pool_->try_acquire();
                if (c)
                    idle.push_back(std::move(*c));
                else if (busy.empty())
                    idle.push_back(pool_->acquire());  // the whole pool is held: wait
                else
                    land(true);
            }
            const chunk_lease& c = idle.back();
            fill(p, c.host());
            const int dev = a.dev.ordinal();
            const auto d = static_cast<std::size_t>(dev);
            if (streams.size() <= d) streams.resize(d + 1, nullptr);
            if (!streams[d]) streams[d] = pool_->stream(dev, id);
            const gpu::event done = c.event(dev);
            gpu::copy_async(dev, a.base + p.begin, c.host(), p.end - p.begin, streams[d], done);
            busy.emplace_back(std::move(idle.back()), i, dev, done);
            idle.pop_back();
        }
        while (!busy.empty()) land(true);
    } catch (...) {
        fail(std::current_exception());
    }
    // Every chunk goes back before this thread counts as done, the busy ones once their
    // copies have finished (each flight waits as it dies).
    busy.clear();
    idle.clear();
    copier_done();
}

}  // namespace ptio::detail
