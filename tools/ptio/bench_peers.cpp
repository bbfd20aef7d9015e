// tools/ptio/bench_peers.cpp — what `bench` measures ptio against.
#include "bench_peers.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <span>
#include <unordered_set>

#include "ptio/checkpoint.hpp"
#include "ptio/device.hpp"
#include "ptio/tensor.hpp"

namespace ptio_cli {

namespace {

using clock = std::chrono::steady_clock;

// Written after the copies so that they are not optimised away.
volatile unsigned char observed = 0;

// The distinct storages' bytes of an open checkpoint (locating each reads its local header).
std::vector<std::span<const std::byte>> storage_spans(const ptio::checkpoint& ck) {
    std::vector<std::span<const std::byte>> spans;
    std::unordered_set<const std::byte*> seen;
    for (const ptio::named_tensor& nt : ck.tensors()) {
        const ptio::tensor_view& v = nt.tensor->view();
        if (!v.has_data()) continue;
        const std::span<const std::byte> bytes = v.storage_bytes();
        if (bytes.empty() || !seen.insert(bytes.data()).second) continue;
        spans.push_back(bytes);
    }
    return spans;
}

}  // namespace

memcpy_runs time_memcpy(const std::string& file, int repeat, cold_runs& cold) {
    memcpy_runs r;
    std::vector<std::byte> destination;
    std::optional<ptio::checkpoint> ck;
    std::vector<std::span<const std::byte>> spans;
    bool sized = false;
    unsigned char sink = 0;
    for (int i = 0; i <= repeat; ++i) {
        if (!ck || (cold.enabled() && i > 0)) {
            spans.clear();
            ck.reset();
            if (i > 0) cold.before_run(file);
            ck.emplace(ptio::checkpoint::open(file));
            spans = storage_spans(*ck);
        }
        if (!sized) {
            for (const auto& s : spans) r.bytes += s.size();
            destination.assign(r.bytes, std::byte{1});  // allocated and touched, untimed
            sized = true;
        }
        const auto t0 = clock::now();
        std::byte* at = destination.data();
        for (const auto& s : spans) {
            std::memcpy(at, s.data(), s.size());
            at += s.size();
        }
        const auto t1 = clock::now();
        if (!destination.empty())  // keep the copies observable
            sink = static_cast<unsigned char>(sink ^ static_cast<unsigned char>(
                                                         destination[destination.size() / 2]));
        if (i > 0) r.seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
    observed = sink;
    return r;
}

cuda_peer measure_cuda_peer(int ordinal, std::uint64_t to_move, int repeat) {
    constexpr std::uint64_t mib = std::uint64_t{1} << 20;
    cuda_peer p;
    p.bytes = std::min<std::uint64_t>(to_move, std::uint64_t{1} << 30);
    p.bytes = std::max<std::uint64_t>(mib, (p.bytes + mib - 1) / mib * mib);  // whole MiB
    p.pinned = ptio::cuda_copy_bandwidth(ordinal, p.bytes, ptio::host_memory::pinned, repeat);
    p.pageable = ptio::cuda_copy_bandwidth(ordinal, p.bytes, ptio::host_memory::pageable, repeat);
    return p;
}

}  // namespace ptio_cli
