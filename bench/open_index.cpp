// bench/open_index.cpp — how long does opening a checkpoint take, against tensor count and data
// size?
//
// One benchmark per torch-written file in $PTIO_BENCH_DIR (or the directory given as the first
// argument): count_<N>.pt (N small tensors) and size_<label>.pt (the same 2400-tensor layout
// with more data), as tools/bench/make_bench_files.py writes them. An iteration is
// checkpoint::open (map, zip directory, unpickle, check every tensor against its storage) and
// the destructor (unmap); open reads no storage bytes, so the time should follow the tensor
// count, not the data size. tools/bench/torch_load_ratio.py runs this binary with
// --benchmark_format=json and sets the times beside torch.load's.
//
// Counters: tensors, tensors_per_s (tensors indexed per second), file_MB, data_MB.
//
// sample_<label>.pt is one small sample (a dict of a few tensors, ~12 KB), the file a dataset
// opens per item: its time is the per-file cost of an open.
//
// Two modes run one open in this process and exit, for the scripts that need a fresh process:
//   open_index --once FILE     open and index FILE, then exit (tools/bench/ls_ratio.py times
//                              this process beside `ptio ls`);
//   open_index --memory FILE   print one JSON line: the resident set (/proc/self/status VmRSS,
//                              RssAnon, RssFile, in bytes; HeapLive: malloc's bytes in use,
//                              which tells what the open holds from what the heap keeps
//                              around it) just before the open and with the checkpoint open
//                              and indexed, and its tensor count
//                              (tools/bench/memory_per_tensor.py).
#include <benchmark/benchmark.h>
#include <ptio/ptio.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <malloc.h>
#include <map>
#include <filesystem>
#include <iostream>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct bench_file {
    fs::path path;
    std::string kind;   // "count" or "size"
    std::string label;  // "100", "10MB"
    double order = 0;   // sort key within its kind: count, or bytes for a size label
};

// "10MB" → 1e7, "4GB" → 4e9; unknown units sort last.
double label_bytes(const std::string& label) {
    static const std::regex re(R"((\d+(?:\.\d+)?)\s*([KMGT]?)i?B?)", std::regex::icase);
    std::smatch m;
    if (!std::regex_match(label, m, re)) return 1e300;
    double v = std::stod(m[1].str());
    switch (std::toupper(static_cast<unsigned char>(m[2].str().empty() ? ' ' : m[2].str()[0]))) {
        case 'K': return v * 1e3;
        case 'M': return v * 1e6;
        case 'G': return v * 1e9;
        case 'T': return v * 1e12;
        default: return v;
    }
}

std::vector<bench_file> find_files(const fs::path& dir) {
    static const std::regex re(R"(^(count|sample|size)_(.+)\.pt$)");
    std::vector<bench_file> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        const std::string name = entry.path().filename().string();
        std::smatch m;
        if (!std::regex_match(name, m, re)) continue;
        bench_file f{entry.path(), m[1].str(), m[2].str(), 0};
        f.order = f.kind == "count" ? std::strtod(f.label.c_str(), nullptr) : label_bytes(f.label);
        files.push_back(std::move(f));
    }
    std::sort(files.begin(), files.end(), [](const bench_file& a, const bench_file& b) {
        return std::tie(a.kind, a.order, a.label) < std::tie(b.kind, b.order, b.label);
    });
    return files;
}

void open_index(benchmark::State& state, const fs::path& path) {
    std::size_t tensors = 0;
    std::uint64_t data_bytes = 0;
    try {
        // Once outside the timing: learn the counts, and warm the page cache and the
        // allocator so every timed iteration sees the same state.
        const auto ck = ptio::checkpoint::open(path);
        tensors = ck.tensors().size();
        for (const auto& t : ck.tensors()) data_bytes += t.tensor->view().nbytes();
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    for (auto _ : state) {
        auto ck = ptio::checkpoint::open(path);
        benchmark::DoNotOptimize(ck.tensors().data());
    }
    const auto file_bytes = static_cast<double>(fs::file_size(path));
    state.counters["tensors"] = static_cast<double>(tensors);
    state.counters["tensors_per_s"] =
        benchmark::Counter(static_cast<double>(tensors), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["file_MB"] = file_bytes / 1e6;
    state.counters["data_MB"] = static_cast<double>(data_bytes) / 1e6;
}

// VmRSS, RssAnon and RssFile of this process in bytes (absent where /proc is not readable).
std::map<std::string, std::uint64_t> resident() {
    std::map<std::string, std::uint64_t> out;
    std::ifstream status("/proc/self/status");
    std::string key;
    std::uint64_t kb = 0;
    std::string unit;
    while (status >> key) {
        if (key == "VmRSS:" || key == "RssAnon:" || key == "RssFile:") {
            status >> kb >> unit;
            out[key.substr(0, key.size() - 1)] = kb * 1024;
        }
        status.ignore(1 << 20, '\n');
    }
    // The heap's live bytes, to tell what the open holds from what malloc keeps around it.
    const struct mallinfo2 heap = mallinfo2();
    out["HeapLive"] = heap.uordblks + heap.hblkhd;
    return out;
}

// --once / --memory: one open in this process.
int open_once(const std::string& mode, const fs::path& path) {
    try {
        const auto before = resident();
        const auto ck = ptio::checkpoint::open(path);
        const std::size_t tensors = ck.tensors().size();
        if (mode == "--memory") {
            const auto after = resident();
            std::cout << "{\"file\": \"" << path.filename().string() << "\", \"tensors\": " << tensors;
            for (const auto& [key, bytes] : before) std::cout << ", \"" << key << "_before\": " << bytes;
            for (const auto& [key, bytes] : after) std::cout << ", \"" << key << "_after\": " << bytes;
            std::cout << "}\n";
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "open_index: " << e.what() << '\n';
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && (std::string(argv[1]) == "--once" || std::string(argv[1]) == "--memory"))
        return open_once(argv[1], argv[2]);
    benchmark::Initialize(&argc, argv);
    fs::path dir;
    int rest = 1;
    if (argc > 1 && std::string(argv[1]).rfind("--", 0) != 0) {
        dir = argv[1];
        rest = 2;
    } else if (const char* env = std::getenv("PTIO_BENCH_DIR")) {
        dir = env;
    }
    if (argc > rest) {
        std::cerr << "open_index: unrecognized argument: " << argv[rest] << '\n';
        return 2;
    }
    if (dir.empty() || !fs::is_directory(dir)) {
        std::cerr << "open_index: set PTIO_BENCH_DIR (or pass a directory) to a directory made by\n"
                     "  tools/bench/make_bench_files.py DIR\n";
        return 2;
    }
    const auto files = find_files(dir);
    if (files.empty()) {
        std::cerr << "open_index: no count_*.pt, sample_*.pt or size_*.pt in " << dir << '\n';
        return 2;
    }
    for (const auto& f : files) {
        const std::string name = "open_index/" + f.path.stem().string();
        benchmark::RegisterBenchmark(name.c_str(), open_index, f.path)
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
