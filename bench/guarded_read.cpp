// bench/guarded_read.cpp — what does guarding a read of a mapping (so that a file shrinking
// under it is an io_error, not SIGBUS) cost against the plain reads it replaced?
//
// Input: none; the benchmark writes its own checkpoint (contiguous tensors of 4 KiB, 64 KiB,
// 1 MiB and 64 MiB) with ptio::save into the temporary folder and opens it. Every benchmark
// reads warm pages (a first pass faults them in). Pairs over the same bytes:
//   memcpy/N    std::memcpy from the tensor's storage_bytes(): the unguarded read;
//   copy_to/N   tensor_view::copy_to: one guard (a sigsetjmp that saves no signal mask) and
//               one fstat of the file (a cut inside a page reads as zeros, not a fault);
//   spans/N     what for_each_chunk did before: 1 MiB spans of the mapping handed to a sink
//               that reads one byte per cache line (a cheap stand-in for a hash);
//   chunks/N    for_each_chunk now: each 1 MiB piece copied under a guard, then the same sink.
// Run: ninja -C build ptio_bench_guarded_read && build/bench/guarded_read
#include <benchmark/benchmark.h>
#include <ptio/ptio.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
constexpr std::size_t chunk = 1 << 20;
constexpr std::int64_t sizes[] = {4 << 10, 64 << 10, 1 << 20, 64 << 20};

struct input {
    fs::path path;
    ptio::checkpoint ck;
    std::map<std::int64_t, const ptio::tensor_view*> by_size;

    static fs::path write() {
        const fs::path p =
            fs::temp_directory_path() / ("ptio_bench_guard_" + std::to_string(::getpid()) + ".pt");
        ptio::tree sd = ptio::tree::ordered_dict();
        for (const std::int64_t n : sizes) {
            std::vector<std::byte> b(static_cast<std::size_t>(n), std::byte{7});
            sd.set("w" + std::to_string(n), ptio::tree::tensor(ptio::storage_ref::own(std::move(b)),
                                                               ptio::dtype::float32, {n / 4}, {}, 0));
        }
        (void)ptio::save(sd, p);
        return p;
    }
    input() : path(write()), ck(ptio::checkpoint::open(path)) {
        for (const auto& t : ck.tensors())
            by_size[static_cast<std::int64_t>(t.tensor->view().nbytes())] = &t.tensor->view();
    }
    ~input() { fs::remove(path); }
};

const ptio::tensor_view& view(std::int64_t n) {
    static input in;
    return *in.by_size.at(n);
}

std::uint64_t touch(std::span<const std::byte> s) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < s.size(); i += 64) sum += static_cast<std::uint64_t>(s[i]);
    return sum;
}

void memcpy_plain(benchmark::State& state) {
    const ptio::tensor_view& v = view(state.range(0));
    std::vector<std::byte> out(static_cast<std::size_t>(v.nbytes()), std::byte{1});
    for (auto _ : state) {
        std::memcpy(out.data(), v.data(), out.size());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

void copy_to_guarded(benchmark::State& state) {
    const ptio::tensor_view& v = view(state.range(0));
    std::vector<std::byte> out(static_cast<std::size_t>(v.nbytes()), std::byte{1});
    for (auto _ : state) {
        v.copy_to(out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

void spans_plain(benchmark::State& state) {
    const ptio::tensor_view& v = view(state.range(0));
    const std::span<const std::byte> all(v.data(), static_cast<std::size_t>(v.nbytes()));
    for (auto _ : state) {
        std::uint64_t sum = 0;
        for (std::size_t at = 0; at < all.size(); at += chunk)
            sum += touch(all.subspan(at, std::min(chunk, all.size() - at)));
        benchmark::DoNotOptimize(sum);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

void chunks_guarded(benchmark::State& state) {
    const ptio::tensor_view& v = view(state.range(0));
    for (auto _ : state) {
        std::uint64_t sum = 0;
        v.for_each_chunk(chunk, [&](std::span<const std::byte> s) { sum += touch(s); });
        benchmark::DoNotOptimize(sum);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

void all_sizes(benchmark::internal::Benchmark* b) {
    for (const std::int64_t n : sizes) b->Arg(n);
}

BENCHMARK(memcpy_plain)->Name("memcpy")->Apply(all_sizes);
BENCHMARK(copy_to_guarded)->Name("copy_to")->Apply(all_sizes);
BENCHMARK(spans_plain)->Name("spans")->Arg(1 << 20)->Arg(64 << 20);
BENCHMARK(chunks_guarded)->Name("chunks")->Arg(1 << 20)->Arg(64 << 20);

}  // namespace

BENCHMARK_MAIN();
