// Planning a load: slots, layout, memory and pieces, all before the first copy.
#include "staging/plan.hpp"

#include <cstdlib>
#include <optional>
#include <unordered_map>

#include <sys/mman.h>
#include <unistd.h>

#include "ptio/error.hpp"
#include "staging/backend.hpp"
#include "torch/storage.hpp"

namespace ptio::detail {

namespace {

constexpr std::uint64_t device_alignment = 256;  // cudaMalloc's own alignment

std::uint64_t align_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }

// Slots of CPU and CUDA allocations are kept apart by one index: 0 = cpu, 1 + ordinal = cuda.
std::size_t device_key(const device& d) {
    return d.is_cuda() ? 1 + static_cast<std::size_t>(d.ordinal()) : 0;
}

}  // namespace

load_plan::load_plan(const checkpoint& ck, const map_location& where, const load_options& options,
                     std::uint64_t chunk_bytes)
    : file(ck.file()), writable_views(options.cpu == cpu_placement::copy_on_write) {
    if (options.cpu == cpu_placement::copy_on_write && !ck.is_copy_on_write())
        throw error(errc::invalid_argument, file, {}, std::nullopt,
                    "cpu_placement::copy_on_write needs a checkpoint opened with "
                    "open_options::copy_on_write (a private mapping of a file)");

    // One slot per storage, in the order tensors first reach it.
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
    std::vector<std::size_t> device_alloc;  // by device_key
    for (std::size_t i = 0; i < slots.size(); ++i) {
        slot& s = slots[i];
        const bool moves = s.dev.is_cuda() || (s.dev.is_cpu() && options.cpu == cpu_placement::copy);
        if (!moves) continue;
        const std::size_t key = device_key(s.dev);
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
        allocate();
    } catch (...) {
        free_memory();
        throw;
    }

    // Pieces: each allocation cut into chunk-sized runs, devices taking turns.
    std::vector<std::vector<piece>> per_device(device_alloc.size());
    for (std::size_t ai = 0; ai < allocs.size(); ++ai) {
        const allocation& a = allocs[ai];
        for (std::uint64_t b = 0; b < a.size; b += chunk_bytes)
            per_device[device_key(a.dev)].push_back({ai, b, std::min(a.size, b + chunk_bytes)});
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
        for_each_overlap(p, [](const slot& s, std::uint64_t, std::uint64_t) { ++s.remaining; });
}

void load_plan::allocate() {
    static const auto page_size = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
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
    for (slot& s : slots) {
        if (s.alloc != npos) {
            s.dst = allocs[s.alloc].base ? allocs[s.alloc].base + s.offset : nullptr;
        } else if (s.dev.is_cpu()) {
            // A view: the checkpoint's own bytes (locating the record reads its local header).
            // device_tensor::mutable_data() hands them out only for a copy-on-write load,
            // whose bytes are private to this process (a copy-on-write mapping's pages, or
            // memory the checkpoint owns), so no write reaches the file or another reader.
            s.dst = const_cast<std::byte*>(s.st->bytes().data());
        }
    }
}

load_plan::~load_plan() { free_memory(); }

void load_plan::free_memory() noexcept {
    for (allocation& a : allocs) {
        if (!a.base) continue;
        if (a.host)
            std::free(a.base);
        else
            gpu::free_device(a.dev.ordinal(), a.base);
        a.base = nullptr;
    }
}

std::size_t load_plan::slot_of(const ptio::tensor& t) const noexcept {
    auto it = std::lower_bound(tensor_slots_.begin(), tensor_slots_.end(),
                               std::pair<const ptio::tensor*, std::size_t>(&t, 0));
    return it->second;
}

std::vector<device_summary> load_plan::summary(std::span<const device_tensor> placed) const {
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
