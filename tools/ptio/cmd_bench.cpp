// tools/ptio/cmd_bench.cpp — `ptio bench FILE --device cpu|cuda:N`: time ptio::load against a
// peer measured in the same run (memcpy for the CPU, the GPU's own host-to-device copy
// bandwidth for CUDA), and watch the process's peak resident memory while loading.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "bench_peers.hpp"
#include "cli.hpp"
#include "open_flags.hpp"
#include "json_output.hpp"
#include "output.hpp"
#include "page_cache.hpp"
#include "process_memory.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/device.hpp"
#include "ptio/error.hpp"
#include "ptio/map_location.hpp"
#include "ptio/load.hpp"
#include "pyformat.hpp"
#include "staging_args.hpp"
#include "units.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "bench",
    .summary = "time a load against memcpy or the GPU's copy bandwidth",
    .synopsis = R"(usage: ptio bench FILE --device cpu|cuda:N [--repeat N] [--cold] [--json]
                  [--threads N] [--chunk-mb N] [--chunks N] [--pinning alloc|register]
                  [--allocation device|storage] [--read pread|mmap])",
    .description = R"(
Time ptio::load of FILE onto one device against a peer measured in the same run, and
report the median of --repeat runs after one warm-up.

  cpu      ptio::load(FILE, "cpu") with owned copies (cpu_placement::copy, so the bytes
           really move), against memcpy of the same storages out of the file's mapping
           into one preallocated buffer on one thread.
  cuda:N   ptio::load(FILE, "cuda:N"), against the device's host-to-device copy
           bandwidth from pinned and from pageable memory (ptio::cuda_copy_bandwidth)
           over min(bytes, 1 GiB); the ratio is to the pinned figure.

A run is the whole load: open, allocate, copy, wait. One stager serves every run, so
the pinned pool is allocated in the warm-up. GB/s are 10^9 bytes per second over the
bytes the load moves. Peak resident memory is the process's VmHWM over the loads
(reset before them where /proc/self/clear_refs allows), reported beside the pinned
pool and the file size: a CUDA load should need the pool plus a small constant, never
the whole file (a CPU copy's destination is itself host memory).
)",
    .column = 21,
};

struct bench_args {
    open_flags open;
    std::vector<std::string> operands;
    std::optional<std::string> device;
    std::optional<std::string> repeat;
    bool cold = false;
    staging_texts staging;
    bool json = false;
};

using clock = std::chrono::steady_clock;

double seconds_between(clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

ptio::device parse_device(const std::optional<std::string>& text) {
    if (!text) throw usage_error("missing --device cpu|cuda:N");
    ptio::device d;
    try {
        d = ptio::device::parse(*text);
    } catch (const ptio::error&) {
        throw usage_error("--device needs cpu or cuda:N, not '" + *text + "'");
    }
    if (d.is_meta()) throw usage_error("--device needs cpu or cuda:N, not '" + *text + "'");
    return d.is_cuda() ? ptio::device::cuda(d.ordinal()) : d;
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (!line.starts_with("model name")) continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos) break;
        const auto start = line.find_first_not_of(" \t", colon + 1);
        if (start != std::string::npos) return line.substr(start);
    }
    return "cpu";
}

struct load_runs {
    std::vector<double> seconds;       // the whole load, per timed run
    std::vector<double> open_seconds;  // its open, per timed run
    std::uint64_t bytes = 0;           // loaded::bytes_to_move()
    std::size_t tensors = 0;
    std::size_t storages = 0;
};

// The warm-up and the timed runs of ptio::load. Every loaded dies before the next drop, so
// no mapping pins the file's pages.
load_runs time_loads(const std::string& file, const ptio::device& dev, const ptio::load_options& o,
                     int repeat, cold_runs& cold, const ptio::open_options& how) {
    load_runs r;
    const ptio::map_location where(dev);
    for (int i = 0; i <= repeat; ++i) {
        if (i > 0) cold.before_run(file);
        const auto t0 = clock::now();
        ptio::checkpoint ck = ptio::checkpoint::open(file, how);
        const auto t1 = clock::now();
        const ptio::loaded m = ptio::load(std::move(ck), where, o);  // waits for every byte
        const auto t2 = clock::now();
        if (i == 0) {
            r.bytes = m.bytes_to_move();
            r.tensors = m.tensors().size();
            for (const ptio::device_summary& row : m.summary()) r.storages += row.storages;
            continue;
        }
        r.seconds.push_back(seconds_between(t0, t2));
        r.open_seconds.push_back(seconds_between(t0, t1));
    }
    return r;
}

struct memory_figures {
    std::optional<std::uint64_t> rss_before;  // VmRSS before the loads
    std::optional<std::uint64_t> hwm_before;  // VmHWM before the loads (before any reset)
    std::optional<std::uint64_t> peak;        // VmHWM after the last load
    std::uint64_t ru_maxrss = 0;              // after the last load
    bool reset = false;                       // the peak was reset before the loads
    std::uint64_t pinned = 0;
};

struct report {
    std::string file;
    std::uint64_t file_bytes = 0;
    ptio::device dev;
    std::string device_name;
    int repeat = 0;
    const staging_args* staging = nullptr;
    load_runs loads;
    std::optional<memcpy_runs> peer_memcpy;
    std::optional<cuda_peer> peer_cuda;
    memory_figures memory;
    cold_runs cold;

    [[nodiscard]] double median_seconds() const { return median(loads.seconds); }
    [[nodiscard]] double ours_gbps() const { return gbps(loads.bytes, median_seconds()); }
    [[nodiscard]] double peer_gbps() const {
        if (peer_memcpy) return gbps(peer_memcpy->bytes, median(peer_memcpy->seconds));
        return peer_cuda ? peer_cuda->pinned / 1e9 : 0;
    }
    [[nodiscard]] double ratio() const {
        const double p = peer_gbps();
        return p > 0 ? ours_gbps() / p : 0;
    }
};

json optional_json(const std::optional<std::uint64_t>& x) { return x ? json(*x) : json(); }

void print_json(const report& r) {
    json options = staging_json(*r.staging);
    if (r.dev.is_cpu()) options["cpu"] = "copy";
    json peer = json::object();
    if (r.peer_memcpy) {
        peer = {{"name", "memcpy"},
                {"bytes", r.peer_memcpy->bytes},
                {"seconds", r.peer_memcpy->seconds},
                {"median_seconds", median(r.peer_memcpy->seconds)}};
    } else if (r.peer_cuda) {
        peer = {{"name", "cuda_copy_bandwidth"},
                {"bytes", r.peer_cuda->bytes},
                {"pinned_gbps", r.peer_cuda->pinned / 1e9},
                {"pageable_gbps", r.peer_cuda->pageable / 1e9}};
    }
    peer["gbps"] = r.peer_gbps();
    const json doc = {{"file", r.file},
                      {"file_bytes", r.file_bytes},
                      {"device", r.dev.str()},
                      {"device_name", r.device_name},
                      {"cold", r.cold.enabled()},
                      {"repeat", r.repeat},
                      {"warmup", 1},
                      {"options", options},
                      {"tensors", r.loads.tensors},
                      {"storages", r.loads.storages},
                      {"bytes_moved", r.loads.bytes},
                      {"seconds", r.loads.seconds},
                      {"open_seconds", r.loads.open_seconds},
                      {"median_seconds", r.median_seconds()},
                      {"gbps", r.ours_gbps()},
                      {"peer", peer},
                      {"peer_gbps", r.peer_gbps()},
                      {"ratio", r.ratio()},
                      {"pinned_bytes", r.memory.pinned},
                      {"rss_before_bytes", optional_json(r.memory.rss_before)},
                      {"hwm_before_bytes", optional_json(r.memory.hwm_before)},
                      {"peak_rss_bytes", optional_json(r.memory.peak)},
                      {"ru_maxrss_bytes", r.memory.ru_maxrss},
                      {"hwm_reset", r.memory.reset},
                      {"cold_resident_bytes", optional_json(r.cold.max_resident())}};
    output out;
    json_writer(out).begin_object(true).members(doc).end();  // a member a line
}

std::string runs_range(std::span<const double> xs) {
    if (xs.size() < 2) return {};
    const auto [lo, hi] = std::minmax_element(xs.begin(), xs.end());
    return " (" + human_seconds(*lo) + " to " + human_seconds(*hi) + ")";
}

void print_text(const report& r) {
    output out;
    std::string& s = out.text();
    const auto line = [&](std::string_view label, const std::string& text) {
        s += label;
        s.append(label.size() < 14 ? 14 - label.size() : 1, ' ');
        s += text;
        s += '\n';
    };
    const staging_args& st = *r.staging;
    std::string file;
    append_escaped_name(file, r.file);
    line("file", file + " (" + human_bytes(r.file_bytes) + ")");
    line("device", r.dev.str() + " (" + r.device_name + ")");
    line("runs", std::to_string(r.repeat) + " after 1 warm-up, page cache " +
                     (r.cold.enabled() ? "dropped before each run (cold)" : "warm"));
    line("options", "threads " + std::to_string(effective_threads(st.threads)) + ", chunk " +
                        std::to_string(st.stager.chunk_bytes >> 20) + " MiB x " +
                        std::to_string(st.stager.chunks) + ", pinning " +
                        std::string(pinning_name(st.stager.pin)) + ", allocation " +
                        std::string(allocation_name(st.allocation)) + ", read " +
                        std::string(read_name(st.read)));
    line("data", plural(r.loads.tensors, "tensor", "tensors") + ", " +
                     plural(r.loads.storages, "storage", "storages") + ", " +
                     human_bytes(r.loads.bytes) + " to move");
    line("ptio load", "median " + human_seconds(r.median_seconds()) +
                          runs_range(r.loads.seconds) + ", open " +
                          human_seconds(median(r.loads.open_seconds)) + ": " +
                          human_rate(r.ours_gbps() * 1e9));
    if (r.peer_memcpy) {
        const double m = median(r.peer_memcpy->seconds);
        line("memcpy", "median " + human_seconds(m) + runs_range(r.peer_memcpy->seconds) + ": " +
                           human_rate(gbps(r.peer_memcpy->bytes, m) * 1e9) +
                           " (one thread, out of the mapping)");
        line("ratio", human_ratio(r.ratio()) + " of memcpy");
    } else if (r.peer_cuda) {
        const std::string over = " over " + human_bytes(r.peer_cuda->bytes);
        line("pinned copy", human_rate(r.peer_cuda->pinned) + over + " (cuda_copy_bandwidth)");
        line("pageable copy", human_rate(r.peer_cuda->pageable) + over);
        line("ratio", human_ratio(r.ratio()) + " of the pinned copy");
    }
    std::string memory = "peak RSS ";
    memory += r.memory.peak ? human_bytes(*r.memory.peak) : std::string("?");
    memory += r.memory.reset ? " during the loads" : " (since start: no peak reset)";
    if (r.memory.rss_before) memory += ", " + human_bytes(*r.memory.rss_before) + " before";
    memory += "; pinned pool " + human_bytes(r.memory.pinned) + "; file " +
              human_bytes(r.file_bytes);
    if (r.dev.is_cpu()) memory += "; the copies themselves " + human_bytes(r.loads.bytes);
    line("memory", memory);
    if (r.cold.enabled()) {
        line("page cache", r.cold.max_resident()
                               ? "at most " + human_bytes(*r.cold.max_resident()) +
                                     " of the file still cached after a drop"
                               : std::string("could not check what the drops left"));
    }
}

int run(const bench_args& args) {
    report r;
    r.file = single_file(args.operands);
    const staging_args st = parse_staging_args(args.staging);
    r.staging = &st;
    r.dev = parse_device(args.device);
    r.repeat = static_cast<int>(number_option(args.repeat, "repeat", 1, 1000, 5));
    r.cold = cold_runs(args.cold);

    // A missing device fails here with cuda_unavailable, before any work.
    r.device_name = r.dev.is_cuda() ? ptio::cuda_device_name(r.dev.ordinal()) : cpu_model_name();
    try {
        for (const std::string& f : checkpoint_files(r.file)) {  // a sharded one: its shards
            std::error_code ec;
            const auto size = std::filesystem::file_size(f, ec);
            r.file_bytes += ec ? 0 : static_cast<std::uint64_t>(size);
        }
    } catch (const ptio::error&) {
        r.file_bytes = 0;  // open reports why, below
    }

    ptio::stager pool(st.stager);
    ptio::load_options o;
    o.cpu = ptio::cpu_placement::copy;
    o.allocation = st.allocation;
    o.threads = st.threads;
    o.read = st.read;
    o.staging = &pool;

    r.memory.hwm_before = peak_resident_bytes();
    r.memory.reset = reset_peak_resident();
    r.memory.rss_before = resident_bytes();
    r.loads = time_loads(r.file, r.dev, o, r.repeat, r.cold, open_options_of(args.open));
    r.memory.peak = peak_resident_bytes();
    r.memory.ru_maxrss = max_rss_bytes();
    r.memory.pinned = pool.pinned_bytes();

    // The peers run after the peak was read: their buffers must not count as ours.
    if (r.dev.is_cpu())
        r.peer_memcpy = time_memcpy(r.file, r.repeat, r.cold);
    else
        r.peer_cuda = measure_cuda_peer(r.dev.ordinal(), r.loads.bytes, r.repeat);

    if (args.json)
        print_json(r);
    else
        print_text(r);
    return 0;
}

}  // namespace

command add_bench_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, bench_args& args) {
        add_value(app, "--device", args.device, "cpu|cuda:N", "the destination (required)");
        add_value(app, "--repeat", args.repeat, "N", "timed runs after the warm-up (default 5)");
        add_flag(app, "--cold", args.cold,
                 R"(drop FILE from the page cache (fdatasync + posix_fadvise
DONTNEED) before every timed run (of the load, and of memcpy
for cpu): the figures then include reading the disk)");
        add_staging_options(app, args.staging);
        add_flag(app, "--json", args.json,
                 R"(print one JSON object with every figure: "file", "file_bytes",
"device", "device_name", "cold", "repeat", "options", "tensors",
"storages", "bytes_moved", "seconds" (per run), "open_seconds"
(per run), "median_seconds", "gbps", "peer" (memcpy: {"name",
"bytes", "seconds", "median_seconds", "gbps"}; cuda: {"name",
"bytes", "pinned_gbps", "pageable_gbps", "gbps"}), "peer_gbps",
"ratio", "pinned_bytes", "rss_before_bytes", "hwm_before_bytes",
"peak_rss_bytes", "ru_maxrss_bytes", "hwm_reset",
"cold_resident_bytes")");
        add_open_flags(app, args.open);
    });
}

}  // namespace ptio_cli
