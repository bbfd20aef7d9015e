// tools/ptio/cmd_load.cpp — `ptio load FILE [--map-location SPEC] …`: load a checkpoint onto
// its devices through ptio::load and report what went where and how long it took.
#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_set>
#include <vector>

#include "command.hpp"
#include "json.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/device.hpp"
#include "ptio/dtype.hpp"
#include "ptio/map_location.hpp"
#include "ptio/load.hpp"
#include "pyformat.hpp"
#include "staging_args.hpp"
#include "units.hpp"

namespace ptio_cli {

namespace {

constexpr std::string_view usage_head =
    R"(usage: ptio load FILE [--map-location SPEC] [--cpu view|copy|cow] [--json]
                 [--threads N] [--chunk-mb N] [--chunks N] [--pinning alloc|register]
                 [--allocation device|storage] [--read pread|mmap]

Load a checkpoint onto its devices as torch.load(FILE, map_location=SPEC) would, through
ptio::load, and print one row per device (tensors, storages, bytes, allocations), the
bytes moved and the time taken: the open (map the file, read the directory and the
pickle) and the placement (allocate, copy, wait until every byte is in place).

A one-shot load pays first-use costs too (CUDA context, pinned pool); 'ptio bench'
measures the steady state against a peer.

options:
  --map-location SPEC
                     where storages go: cpu, meta, cuda, cuda:N, or a dict of saved
                     tags SAVED=DEVICE[,SAVED=DEVICE...] (cuda:1=cuda:0,cuda:2=cpu);
                     default (or 'none'): each storage to the device it was saved on
  --cpu view|copy|cow
                     what a CPU destination gets: a read-only view of the file's
                     mapping (view, the default; no bytes move), an owned copy (copy),
                     or a writable copy-on-write view (cow)
)";

constexpr std::string_view usage_tail =
    R"(  --check            after the load, copy every placed storage back to the host and
                     compare it with the file's bytes; exit 1 on any difference
  --json             print one JSON object {"file", "map_location", "cpu", "options",
                     "devices": [{"device", "tensors", "storages", "bytes",
                     "allocations"}], "bytes_moved", "pinned_bytes", "open_seconds",
                     "place_seconds", "seconds", "gbps", "tensors": [{"path", "name",
                     "device", "dtype", "shape"}], "check": {"storages", "bytes",
                     "mismatches"} or null}; gbps is null when nothing moved
  -h, --help         show this help
)";

constexpr option_spec own_options[] = {
    {"map-location", '\0', true},
    {"cpu", '\0', true},
    {"json", '\0', false},
    {"check", '\0', false},
};
constexpr auto options = with_staging_options(own_options);

const std::string& usage() {
    static const std::string text = usage_with_staging(usage_head, usage_tail);
    return text;
}

ptio::cpu_placement parse_cpu(const parsed_args& args) {
    const auto text = args.value("cpu");
    if (!text || *text == "view") return ptio::cpu_placement::view;
    if (*text == "copy") return ptio::cpu_placement::copy;
    if (*text == "cow") return ptio::cpu_placement::copy_on_write;
    throw usage_error("--cpu needs 'view', 'copy' or 'cow', not '" + *text + "'");
}

ptio::map_location parse_where(const parsed_args& args) {
    const auto spec = args.value("map-location");
    if (!spec || *spec == "none") return {};
    return ptio::map_location::parse(*spec);  // invalid_argument names the bad text
}

struct check_result {
    bool done = false;
    std::size_t storages = 0;
    std::uint64_t bytes = 0;
    std::vector<std::string> mismatches;  // tensor names whose storage differs
};

// Every placed storage (once per storage) copied back and compared with the file's bytes.
check_result check_bytes(const ptio::loaded& m) {
    check_result r;
    r.done = true;
    std::unordered_set<const std::byte*> seen;
    std::vector<std::byte> host;
    for (const ptio::named_device_tensor& named : m.tensors()) {
        const ptio::device_tensor& t = *named.tensor;
        if (t.device().is_meta() || !t.source().view().has_data()) continue;
        if (!seen.insert(t.storage_data()).second) continue;
        const auto want = t.source().view().storage_bytes();
        host.resize(static_cast<std::size_t>(t.storage_nbytes()));
        t.copy_storage_to_host(host);
        ++r.storages;
        r.bytes += host.size();
        if (host.size() != want.size() || !std::equal(host.begin(), host.end(), want.begin()))
            r.mismatches.push_back(named.name);
    }
    return r;
}

struct timings {
    double open = 0;
    double place = 0;
    [[nodiscard]] double total() const noexcept { return open + place; }
};

void print_json(const ptio::loaded& m, const std::string& file, const ptio::map_location& where,
                ptio::cpu_placement cpu, const staging_args& s, const ptio::stager& pool,
                const timings& t, const check_result& check) {
    output out;
    json::writer w(out.text());
    w.begin_object(true).key("file").string(file).key("map_location").string(where.str());
    w.key("cpu").string(cpu_placement_name(cpu));
    w.key("options").begin_object();
    write_staging_members(w, s);
    w.end_object();
    w.key("devices").begin_array(true);
    for (const ptio::device_summary& row : m.summary()) {
        w.begin_object().key("device").string(row.device.str());
        w.key("tensors").number(std::uint64_t{row.tensors});
        w.key("storages").number(std::uint64_t{row.storages});
        w.key("bytes").number(row.bytes).key("allocations").number(std::uint64_t{row.allocations});
        w.end_object();
    }
    w.end_array();
    const std::uint64_t moved = m.bytes_to_move();
    w.key("bytes_moved").number(moved).key("pinned_bytes").number(std::uint64_t{pool.pinned_bytes()});
    w.key("open_seconds");
    write_double(w, t.open);
    w.key("place_seconds");
    write_double(w, t.place);
    w.key("seconds");
    write_double(w, t.total());
    w.key("gbps");
    if (moved > 0)
        write_double(w, gbps(moved, t.total()));
    else
        w.null();
    w.key("tensors").begin_array(true);
    for (const ptio::named_device_tensor& named : m.tensors()) {
        const ptio::device_tensor& dt = *named.tensor;
        w.begin_object().key("path").begin_array();
        for (const std::string& key : named.path) w.string(key);
        w.end_array().key("name").string(named.name);
        w.key("device").string(dt.device().str());
        w.key("dtype").string(ptio::name(dt.dtype())).key("shape").int_array(dt.shape());
        w.end_object();
        out.maybe_flush();
    }
    w.end_array().key("check");
    if (check.done) {
        w.begin_object().key("storages").number(std::uint64_t{check.storages});
        w.key("bytes").number(check.bytes).key("mismatches").begin_array();
        for (const auto& name : check.mismatches) w.string(name);
        w.end_array().end_object();
    } else {
        w.null();
    }
    w.end_object();
    out.text() += '\n';
}

void print_text(const ptio::loaded& m, const std::string& file, const ptio::map_location& where,
                ptio::cpu_placement cpu, const ptio::stager& pool, const timings& t,
                const check_result& check) {
    const auto rows = m.summary();
    struct cells {
        std::string device, tensors, storages, bytes, allocations;
    };
    std::vector<cells> table;
    table.push_back({"device", "tensors", "storages", "bytes", "allocations"});
    for (const ptio::device_summary& row : rows)
        table.push_back({row.device.str(), std::to_string(row.tensors),
                         std::to_string(row.storages), human_bytes(row.bytes),
                         std::to_string(row.allocations)});
    std::size_t w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0;
    for (const cells& c : table) {
        w0 = std::max(w0, c.device.size());
        w1 = std::max(w1, c.tensors.size());
        w2 = std::max(w2, c.storages.size());
        w3 = std::max(w3, c.bytes.size());
        w4 = std::max(w4, c.allocations.size());
    }
    const auto right = [](std::string& s, const std::string& cell, std::size_t width) {
        s.append(width - cell.size(), ' ');
        s += cell;
    };

    output out;
    std::string& s = out.text();
    append_escaped_name(s, file);
    s += ": " + plural(m.tensors().size(), "tensor", "tensors") + ", map_location " + where.str() +
         ", cpu " + std::string(cpu_placement_name(cpu)) + "\n";
    for (const cells& c : table) {
        s += c.device;
        s.append(w0 - c.device.size(), ' ');
        s += "  ";
        right(s, c.tensors, w1);
        s += "  ";
        right(s, c.storages, w2);
        s += "  ";
        right(s, c.bytes, w3);
        s += "  ";
        right(s, c.allocations, w4);
        s += '\n';
    }
    const std::uint64_t moved = m.bytes_to_move();
    s += "moved " + human_bytes(moved) + " in " + human_seconds(t.total()) + " (open " +
         human_seconds(t.open) + ", placement " + human_seconds(t.place) + ")";
    if (moved > 0) s += ": " + human_rate(static_cast<double>(moved) / t.total());
    s += '\n';
    if (pool.pinned_bytes() > 0) s += "pinned pool " + human_bytes(pool.pinned_bytes()) + '\n';
    if (check.done) {
        s += "check: " + plural(check.storages, "storage", "storages") + ", " + human_bytes(check.bytes) +
             " copied back: ";
        if (check.mismatches.empty()) {
            s += "every byte equals the file's\n";
        } else {
            s += std::to_string(check.mismatches.size()) + " differ (first: " + check.mismatches.front() + ")\n";
        }
    }
}

int run(const parsed_args& args) {
    const std::string& file = single_file(args);
    const staging_args s = parse_staging_args(args);
    const ptio::cpu_placement cpu = parse_cpu(args);
    const ptio::map_location where = parse_where(args);

    ptio::stager pool(s.stager);
    ptio::load_options o;
    o.cpu = cpu;
    o.allocation = s.allocation;
    o.threads = s.threads;
    o.read = s.read;
    o.staging = &pool;

    using clock = std::chrono::steady_clock;
    const auto seconds = [](clock::duration d) { return std::chrono::duration<double>(d).count(); };
    const auto t0 = clock::now();
    // Opened here rather than by load(path) so the open and the placement are timed apart;
    // a copy-on-write placement needs a private mapping, as load(path) would ask for.
    ptio::checkpoint ck = ptio::checkpoint::open(
        file, ptio::open_options{.copy_on_write = cpu == ptio::cpu_placement::copy_on_write});
    const auto t1 = clock::now();
    const ptio::loaded m = ptio::load(std::move(ck), where, o);  // waits for every byte
    const auto t2 = clock::now();
    const timings t{seconds(t1 - t0), seconds(t2 - t1)};

    const check_result check = args.has("check") ? check_bytes(m) : check_result{};
    if (args.has("json"))
        print_json(m, file, where, cpu, s, pool, t, check);
    else
        print_text(m, file, where, cpu, pool, t, check);
    return check.mismatches.empty() ? 0 : 1;
}

}  // namespace

const command& load_command() {
    static const command c{"load", "load onto devices (map_location) and time it", usage(),
                           options, run};
    return c;
}

}  // namespace ptio_cli
