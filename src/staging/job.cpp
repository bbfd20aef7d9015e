#include "staging/job.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>

#include <sys/mman.h>
#include <unistd.h>

#include "checkpoint/checkpoint_access.hpp"
#include "ptio/error.hpp"
#include "staging/backend.hpp"
#include "staging/pool.hpp"
#include "torch/storage.hpp"

namespace ptio::detail {

namespace {

constexpr std::uint64_t device_alignment = 256;  // cudaMalloc's own alignment

std::uint64_t align_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }

const std::size_t page_size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

// Pages of a read-only file mapping may be dropped once copied: they come back unchanged
// from the page cache if read again, and the process's resident memory stays near the pinned
// pool instead of growing to the file's size.
void drop_pages(const std::byte* lo, const std::byte* hi) noexcept {
    auto a = align_up(reinterpret_cast<std::uintptr_t>(lo), page_size);
    auto b = reinterpret_cast<std::uintptr_t>(hi) / page_size * page_size;
    if (a < b) (void)madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
}

// Map a range's pages in one call (Linux ≥ 5.14) rather than a fault per 64 KiB; the copy that
// follows then runs at memcpy speed. Older kernels refuse the advice, and the copy faults.
void prefault(const std::byte* lo, const std::byte* hi) noexcept {
#ifndef MADV_POPULATE_READ
    constexpr int MADV_POPULATE_READ = 22;
#endif
    auto a = reinterpret_cast<std::uintptr_t>(lo) / page_size * page_size;
    auto b = align_up(reinterpret_cast<std::uintptr_t>(hi), page_size);
    (void)madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_READ);
}

unsigned default_threads() {
    // 12 threads filled 2 MiB chunks fastest on a 16-core H100 host (README, Performance).
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    return std::min(12u, hw);
}

}  // namespace

load_job::load_job(const checkpoint& ck, const map_location& where, const load_options& options)
    : file(ck.file()), options_(options) {
    pool_ = (options.staging ? options.staging : &stager::shared())->impl_.get();
    release_pages_ = checkpoint_access::maps_file_read_only(ck);
    writable_views = options.cpu == cpu_placement::copy_on_write;
    if (options.cpu == cpu_placement::copy_on_write && !checkpoint_access::is_copy_on_write(ck))
        throw error(errc::invalid_argument, file, {}, std::nullopt,
                    "cpu_placement::copy_on_write needs a checkpoint opened with "
                    "open_options::copy_on_write (a private mapping of a file)");

    // One slot per storage, in the order tensors first reach it (the pickle's order), so
    // the first tensors are the first to be ready.
    std::unordered_map<const storage*, std::size_t> by_storage;
    for (const named_tensor& nt : ck.tensors()) {
        const ptio::tensor* t = nt.tensor;
        const storage* st = storage_of(t->view());
        std::size_t index = npos;
        if (st) {
            auto [it, fresh] = by_storage.try_emplace(st, slots.size());
            if (fresh) {
                slot& s = slots.emplace_back();
                s.st = st;
                s.nbytes = st->nbytes();
                s.dev = where.resolve({st->key(), st->nbytes(), st->type(), st->location()}, file);
                if (s.dev.is_cuda()) s.dev = device::cuda(s.dev.ordinal());
            }
            index = it->second;
        }
        tensor_slots_.emplace_back(t, index);
    }
    std::sort(tensor_slots_.begin(), tensor_slots_.end());
    tensor_slots_.erase(std::unique(tensor_slots_.begin(), tensor_slots_.end()),
                        tensor_slots_.end());

    // Layout: one allocation per device (or per storage) for CUDA and CPU copies.
    const bool per_storage = options.allocation == device_allocation::per_storage;
    std::vector<std::size_t> device_alloc;  // index by device key: 0 = cpu, 1 + ordinal = cuda
    for (std::size_t i = 0; i < slots.size(); ++i) {
        slot& s = slots[i];
        const bool moves = s.dev.is_cuda() || (s.dev.is_cpu() && options.cpu == cpu_placement::copy);
        if (!moves) continue;
        const std::size_t key = s.dev.is_cuda() ? 1 + static_cast<std::size_t>(s.dev.ordinal()) : 0;
        if (device_alloc.size() <= key) device_alloc.resize(key + 1, npos);
        if (per_storage || device_alloc[key] == npos) {
            device_alloc[key] = allocs.size();
            allocation& a = allocs.emplace_back();
            a.dev = s.dev.is_cuda() ? device::cuda(s.dev.ordinal()) : device::cpu();
            a.host = !s.dev.is_cuda();
        }
        allocation& a = allocs[device_alloc[key]];
        s.alloc = device_alloc[key];
        s.offset = align_up(a.size, device_alignment);
        a.size = s.offset + s.nbytes;
        a.slots.push_back(i);
        total += s.nbytes;
    }

    // Memory. The destructor does not run for a constructor that throws: free what was
    // taken before passing the error on.
    try {
        for (allocation& a : allocs) {
            if (a.size == 0) continue;
            if (a.host) {
                // Large copies in 2 MiB pages where the kernel allows: faulting a fresh
                // gigabyte in 4 KiB pages costs more than copying it.
                const std::uint64_t align = a.size >= (4u << 20) ? (2u << 20) : page_size;
                const auto size = align_up(a.size, align);
                a.base = static_cast<std::byte*>(std::aligned_alloc(align, size));
                if (!a.base)
                    throw error(errc::out_of_memory, file, {}, std::nullopt,
                                "out of host memory for a copy of " + std::to_string(a.size) +
                                    " bytes");
                if (align > page_size) (void)madvise(a.base, size, MADV_HUGEPAGE);
            } else {
                a.base = static_cast<std::byte*>(gpu::alloc_device(a.dev.ordinal(), a.size));
            }
        }
    } catch (...) {
        free_memory();
        throw;
    }
    for (slot& s : slots) {
        if (s.alloc != npos) {
            s.dst = allocs[s.alloc].base ? allocs[s.alloc].base + s.offset : nullptr;
        } else if (s.dev.is_cpu()) {
            // A view: the mapping itself (locating the record reads its local header).
            try {
                s.dst = const_cast<std::byte*>(s.st->bytes().data());
            } catch (...) {
                free_memory();
                throw;
            }
        }
    }

    // Pieces: each allocation cut into chunk-sized runs; devices interleaved so that loads to
    // several GPUs proceed at once.
    const std::uint64_t chunk = pool_->options.chunk_bytes;
    std::vector<std::vector<piece>> per_device(device_alloc.size());
    for (std::size_t ai = 0; ai < allocs.size(); ++ai) {
        const allocation& a = allocs[ai];
        const std::size_t key = a.dev.is_cuda() ? 1 + static_cast<std::size_t>(a.dev.ordinal()) : 0;
        for (std::uint64_t b = 0; b < a.size; b += chunk)
            per_device[key].push_back({ai, b, std::min(a.size, b + chunk)});
    }
    for (std::size_t round = 0;; ++round) {
        bool any = false;
        for (const auto& list : per_device)
            if (round < list.size()) {
                pieces.push_back(list[round]);
                any = true;
            }
        if (!any) break;
    }
    for (const piece& p : pieces)
        for_each_overlap(p, [](slot& s, std::uint64_t, std::uint64_t) { ++s.remaining; });
}

template <class F>
void load_job::for_each_overlap(const piece& p, F&& f) const {
    const allocation& a = allocs[p.alloc];
    auto it = std::partition_point(a.slots.begin(), a.slots.end(), [&](std::size_t i) {
        return slots[i].offset + slots[i].nbytes <= p.begin;
    });
    for (; it != a.slots.end() && slots[*it].offset < p.end; ++it) {
        slot& s = const_cast<slot&>(slots[*it]);
        if (s.nbytes == 0) continue;
        const std::uint64_t lo = std::max(p.begin, s.offset);
        const std::uint64_t hi = std::min(p.end, s.offset + s.nbytes);
        f(s, lo, hi);
    }
}

load_job::~load_job() {
    cancel();
    join();
    free_memory();
}

void load_job::free_memory() noexcept {
    for (allocation& a : allocs) {
        if (!a.base) continue;
        if (a.host)
            std::free(a.base);
        else
            gpu::free_device(a.dev.ordinal(), a.base);
        a.base = nullptr;
    }
}

void load_job::start() {
    if (pieces.empty()) {
        std::lock_guard lock(m_);
        finished_ = true;
        return;
    }
    const unsigned want = options_.threads ? options_.threads : default_threads();
    const auto n = static_cast<unsigned>(std::min<std::size_t>(want, pieces.size()));
    // Each thread's share of the pool; a thread that cannot get one more chunk reuses its own.
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

void load_job::fill(const piece& p, std::byte* out) const {
    // The piece's runs: one per storage it covers, zero-filling the alignment padding.
    struct run {
        const std::byte* from;
        std::byte* to;
        std::uint64_t n;
        const mapped_file* file;  // a stored record of this file (null: a copy or memory)
    };
    std::vector<run> runs;
    std::uint64_t at = p.begin;  // next byte of `out` to write
    for_each_overlap(p, [&](const slot& s, std::uint64_t lo, std::uint64_t hi) {
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
                std::memcpy(r.to, r.from, r.n);
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
        for (std::size_t k = i; k < j; ++k) std::memcpy(runs[k].to, runs[k].from, runs[k].n);
        if (runs[i].file && release_pages_) drop_pages(lo, hi);
        i = j;
    }
}

void load_job::copier(unsigned id, std::size_t share) {
    struct flight {
        std::size_t chunk, piece;
        int device;
        gpu::event done;
    };
    std::deque<flight> busy;         // this thread's copies in flight, oldest first
    std::vector<std::size_t> idle;   // its chunks with no copy in flight
    std::vector<gpu::stream> streams;  // its stream per device ordinal, once asked for
    // Count the oldest copy's piece once it has landed (waiting for it, or only looking).
    const auto land = [&](bool wait) {
        const flight f = busy.front();
        if (wait)
            gpu::synchronize(f.device, f.done);
        else if (!gpu::query(f.device, f.done))
            return false;
        busy.pop_front();
        idle.push_back(f.chunk);
        complete(pieces[f.piece]);
        return true;
    };
    try {
        while (!stop_.load(std::memory_order_relaxed)) {
            while (!busy.empty() && land(false)) {
            }
            const std::size_t i = next_.fetch_add(1);
            if (i >= pieces.size()) break;
            const piece& p = pieces[i];
            const allocation& a = allocs[p.alloc];
            if (a.host) {
                fill(p, a.base + p.begin);
                complete(p);
                continue;
            }
            if (idle.empty()) {
                std::optional<std::size_t> c;
                if (busy.size() < share) c = pool_->try_acquire();
                if (c)
                    idle.push_back(*c);
                else if (busy.empty())
                    idle.push_back(pool_->acquire());  // the whole pool is held: wait
                else
                    land(true);
            }
            const std::size_t c = idle.back();
            fill(p, pool_->host(c));
            const int dev = a.dev.ordinal();
            const auto d = static_cast<std::size_t>(dev);
            if (streams.size() <= d) streams.resize(d + 1, nullptr);
            if (!streams[d]) streams[d] = pool_->stream(dev, id);
            const gpu::event done = pool_->event(c, dev);
            gpu::copy_async(dev, a.base + p.begin, pool_->host(c), p.end - p.begin, streams[d], done);
            idle.pop_back();
            busy.push_back({c, i, dev, done});
        }
        while (!busy.empty()) land(true);
    } catch (...) {
        fail(std::current_exception());
    }
    // After a failure, copies may still read from this thread's chunks: let them finish
    // before the chunks go back to the pool.
    for (const flight& f : busy) {
        try {
            gpu::synchronize(f.device, f.done);
        } catch (...) {
        }
        pool_->release(f.chunk);
    }
    for (const std::size_t c : idle) pool_->release(c);
    copier_done();
}

void load_job::copier_done() noexcept {
    std::lock_guard lock(m_);
    if (--copiers_left_ == 0) {
        finished_ = true;
        changed_.notify_all();
    }
}

void load_job::complete(const piece& p) {
    // Progress calls are serialised and see `done` in the order it grows: the count is
    // updated under the same lock that the call runs under (lock order: progress, then m_).
    std::unique_lock<std::mutex> in_order;
    if (options_.progress) in_order = std::unique_lock(progress_m_);
    std::uint64_t done = 0;
    bool landed = false;  // a storage became ready: wake its waiters
    {
        std::lock_guard lock(m_);
        for_each_overlap(p, [&](slot& s, std::uint64_t lo, std::uint64_t hi) {
            if (s.remaining.fetch_sub(1, std::memory_order_release) == 1) landed = true;
            done_ += hi - lo;
        });
        done = done_;
    }
    if (landed) changed_.notify_all();
    if (!options_.progress) return;
    bool go = true;
    try {
        go = options_.progress(done, total);
    } catch (...) {
        fail(std::current_exception());
        return;
    }
    if (!go) cancel();
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
    return i == npos || slots[i].remaining.load(std::memory_order_acquire) == 0;
}

[[noreturn]] static void throw_stopped(const std::exception_ptr& e, const std::string& file) {
    if (e) std::rethrow_exception(e);
    throw error(errc::cancelled, file, {}, std::nullopt,
                "the load was cancelled before this tensor's bytes were all copied");
}

void load_job::wait_slot(std::size_t i) const {
    if (slot_ready(i)) return;
    std::unique_lock lock(m_);
    changed_.wait(lock, [&] { return slot_ready(i) || finished_ || error_; });
    if (slot_ready(i)) return;
    throw_stopped(error_, file);
}

bool load_job::all_ready() const noexcept {
    std::lock_guard lock(m_);
    return finished_ && !error_ && done_ == total;
}

void load_job::wait_all() const {
    std::unique_lock lock(m_);
    changed_.wait(lock, [&] { return finished_; });
    if (error_ || done_ != total) throw_stopped(error_, file);
}

device_tensor load_job::place(const ptio::tensor& t) const {
    auto it = std::lower_bound(tensor_slots_.begin(), tensor_slots_.end(),
                               std::pair<const ptio::tensor*, std::size_t>(&t, 0));
    const std::size_t i = it->second;
    if (i == npos) return device_tensor(&t, device::meta(), nullptr, 0, this, npos);
    const slot& s = slots[i];
    std::byte* data = s.dev.is_meta() ? nullptr : s.dst;
    return device_tensor(&t, s.dev, data, s.dev.is_meta() ? 0 : s.nbytes, this, i);
}

std::vector<device_summary> load_job::summary(std::span<const device_tensor> placed) const {
    std::vector<device_summary> rows;
    auto row = [&](const device& d) -> device_summary& {
        for (auto& r : rows)
            if (r.device == d) return r;
        return rows.emplace_back(device_summary{d});
    };
    for (const device_tensor& t : placed) ++row(t.device()).tensors;
    for (const slot& s : slots) {
        auto& r = row(s.dev.is_cuda() ? device::cuda(s.dev.ordinal()) : s.dev);
        ++r.storages;
        r.bytes += s.dev.is_meta() ? 0 : s.nbytes;
    }
    for (const allocation& a : allocs)
        if (a.size) ++row(a.dev).allocations;
    auto rank = [](const device& d) {
        return d.is_cpu() ? -1 : d.is_meta() ? 1 << 30 : d.ordinal();
    };
    std::sort(rows.begin(), rows.end(),
              [&](const auto& a, const auto& b) { return rank(a.device) < rank(b.device); });
    return rows;
}

}  // namespace ptio::detail
