// bench/copy_contiguous.cpp — what does tensor_view::copy_to cost against a plain memcpy of the
// same bytes from the same mapping?
//
// Input: copy.pt in $PTIO_BENCH_DIR (or the file given as the first argument), written by
// tools/bench/make_bench_files.py: "weight", a large contiguous float32 matrix, and "weight_t",
// its transpose (a non-contiguous view of the same storage). For each, in the same run:
//   copy_to/<view>  tensor_view::copy_to into owned, pre-faulted memory;
//   memcpy/<view>   std::memcpy of the same number of bytes from the view's storage, the peer.
// For the contiguous view both move identical bytes; for the transposed one memcpy is the lower
// bound a strided gather is measured against. Before timing, each benchmark copies once so the
// mapping's pages are resident (page cache warm, page tables filled): the figures are memory
// bandwidth, not disk. Bytes/s via SetBytesProcessed; with the console reporter the run ends
// with each copy_to's throughput as a fraction of memcpy's.
#include <benchmark/benchmark.h>
#include <ptio/ptio.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::vector<std::byte> prefaulted(std::uint64_t n) {
    std::vector<std::byte> out(static_cast<std::size_t>(n));
    std::memset(out.data(), 1, out.size());
    return out;
}

void copy_to(benchmark::State& state, const ptio::tensor_view* view) {
    auto out = prefaulted(view->nbytes());
    try {
        view->copy_to(out);  // warm-up: locate the storage, fault the pages in
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    for (auto _ : state) {
        view->copy_to(out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(view->nbytes()));
}

void memcpy_peer(benchmark::State& state, const ptio::tensor_view* view) {
    auto out = prefaulted(view->nbytes());
    const std::byte* src = nullptr;
    try {
        src = view->storage_bytes().data();
        if (view->storage_bytes().size() < out.size()) {
            state.SkipWithError("storage smaller than the view's bytes");
            return;
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    std::memcpy(out.data(), src, out.size());  // warm-up
    for (auto _ : state) {
        std::memcpy(out.data(), src, out.size());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(view->nbytes()));
}

// The console reporter, plus a closing line per view: copy_to's bytes/s over memcpy's.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    ratio_reporter() : ConsoleReporter(OO_None) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.error_occurred) continue;
            if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
            const auto it = run.counters.find("bytes_per_second");
            if (it == run.counters.end()) continue;
            // "copy_to/contiguous/real_time[_median]" → family "copy_to", view "contiguous".
            const std::string name = run.run_name.function_name;
            const auto slash = name.find('/');
            if (slash == std::string::npos) continue;
            rates_[name.substr(slash + 1)][name.substr(0, slash)] = it->second.value;
        }
    }

    void Finalize() override {
        auto& out = GetOutputStream();
        for (const auto& [view, by_family] : rates_) {
            const auto c = by_family.find("copy_to");
            const auto m = by_family.find("memcpy");
            if (c == by_family.end() || m == by_family.end() || m->second <= 0) continue;
            out << "copy_to/" << view << ": " << std::fixed << std::setprecision(2)
                << c->second / 1e9 << " GB/s = " << c->second / m->second
                << " x memcpy (" << m->second / 1e9 << " GB/s)\n";
        }
        ConsoleReporter::Finalize();
    }

private:
    std::map<std::string, std::map<std::string, double>> rates_;
};

bool console_format(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind("--benchmark_format=", 0) == 0 && arg != "--benchmark_format=console")
            return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    const bool console = console_format(argc, argv);
    benchmark::Initialize(&argc, argv);
    fs::path file;
    int rest = 1;
    if (argc > 1 && std::string(argv[1]).rfind("--", 0) != 0) {
        file = argv[1];
        rest = 2;
    } else if (const char* env = std::getenv("PTIO_BENCH_DIR")) {
        file = fs::path(env) / "copy.pt";
    }
    if (argc > rest) {
        std::cerr << "copy_contiguous: unrecognized argument: " << argv[rest] << '\n';
        return 2;
    }
    if (file.empty() || !fs::is_regular_file(file)) {
        std::cerr << "copy_contiguous: set PTIO_BENCH_DIR to a directory made by\n"
                     "  tools/bench/make_bench_files.py DIR (it holds copy.pt), or pass the file\n";
        return 2;
    }

    std::optional<ptio::checkpoint> ck;
    const ptio::tensor_view* views[2] = {nullptr, nullptr};
    try {
        ck.emplace(ptio::checkpoint::open(file));
        views[0] = &ck->at("weight").view();
        views[1] = &ck->at("weight_t").view();
    } catch (const std::exception& e) {
        std::cerr << "copy_contiguous: " << e.what() << '\n';
        return 1;
    }
    const char* labels[2] = {"contiguous", "transposed"};
    for (int i = 0; i < 2; ++i) {
        const std::string suffix = std::string("/") + labels[i];
        benchmark::RegisterBenchmark(("copy_to" + suffix).c_str(), copy_to, views[i])
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark(("memcpy" + suffix).c_str(), memcpy_peer, views[i])
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
    if (console) {
        ratio_reporter reporter;
        benchmark::RunSpecifiedBenchmarks(&reporter);
    } else {
        benchmark::RunSpecifiedBenchmarks();
    }
    benchmark::Shutdown();
    return 0;
}
