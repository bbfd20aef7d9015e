// tools/ptio/cmd_load.cpp — `ptio load FILE [--map-location SPEC] …`: load a checkpoint onto
// its devices through ptio::load and report what went where and how long it took.
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "cli.hpp"
#include "open_flags.hpp"
#include "json_output.hpp"
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

constexpr help_text help{
    .name = "load",
    .summary = "load onto devices (map_location) and time it",
    .synopsis = R"(usage: ptio load FILE [--map-location SPEC] [--cpu view|copy|cow] [--json]
                 [--threads N] [--chunk-mb N] [--chunks N] [--pinning alloc|register]
                 [--allocation device|storage] [--read pread|mmap])",
    .description = R"(
Load a checkpoint onto its devices as torch.load(FILE, map_location=SPEC) would, through
ptio::load, and print one row per device (tensors, storages, bytes, allocations), the
bytes moved and the time taken: the open (map the file, read the directory and the
pickle) and the placement (allocate, copy, wait until every byte is in place).

A one-shot load pays first-use costs too (CUDA context, pinned pool); 'ptio bench'
measures the steady state against a peer.
)",
    .column = 21,
};

struct load_args {
    open_flags open;
    std::vector<std::string> operands;
    std::optional<std::string> map_location;
    std::optional<std::string> cpu;
    staging_texts staging;
    bool check = false;
    bool json = false;
};

ptio::cpu_placement parse_cpu(const std::optional<std::string>& text) {
    if (!text || *text == "view") return ptio::cpu_placement::view;
    if (*text == "copy") return ptio::cpu_placement::copy;
    if (*text == "cow") return ptio::cpu_placement::copy_on_write;
    throw usage_error("--cpu needs 'view', 'copy' or 'cow', not '" + *text + "'");
}

ptio::map_location parse_where(const std::optional<std::string>& spec) {
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
            r.mismatches.emplace_back(named.name);
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
    json devices = json::array();
    for (const ptio::device_summary& row : m.summary())
        devices.push_back({{"device", row.device.str()},
                           {"tensors", row.tensors},
                           {"storages", row.storages},
                           {"bytes", row.bytes},
                           {"allocations", row.allocations}});
    const std::uint64_t moved = m.bytes_to_move();
    const json head = {{"file", file},
                {"map_location", where.str()},
                {"cpu", cpu_placement_name(cpu)},
                {"options", staging_json(s)},
                {"devices", devices},
                {"bytes_moved", moved},
                {"pinned_bytes", pool.pinned_bytes()},
                {"open_seconds", t.open},
                {"place_seconds", t.place},
                {"seconds", t.total()},
                {"gbps", moved > 0 ? json(gbps(moved, t.total())) : json()}};
    // The listing is streamed (see json_output.hpp): the members before it, then a tensor
    // a line, then the check.
    output out;
    json_writer w(out);
    w.begin_object(true).members(head).key("tensors").begin_array(true);
    for (const ptio::named_device_tensor& named : m.tensors()) {
        const ptio::device_tensor& dt = *named.tensor;
        w.value(json_object({{"path", std::vector<std::string>(named.path.begin(), named.path.end())},
                             {"name", std::string(named.name)},
                             {"device", dt.device().str()},
                             {"dtype", ptio::name(dt.dtype())},
                             {"shape", dt.shape()}}));
    }
    w.end().key("check");
    w.value(check.done ? json{{"storages", check.storages},
                              {"bytes", check.bytes},
                              {"mismatches", check.mismatches}}
                       : json());
    w.end();
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

int run(const load_args& args) {
    const std::string& file = single_file(args.operands);
    const staging_args s = parse_staging_args(args.staging);
    const ptio::cpu_placement cpu = parse_cpu(args.cpu);
    const ptio::map_location where = parse_where(args.map_location);

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
        file, open_options_of(args.open,
                              ptio::open_options{.copy_on_write = cpu == ptio::cpu_placement::copy_on_write}));
    const auto t1 = clock::now();
    const ptio::loaded m = ptio::load(std::move(ck), where, o);  // waits for every byte
    const auto t2 = clock::now();
    const timings t{seconds(t1 - t0), seconds(t2 - t1)};

    const check_result check = args.check ? check_bytes(m) : check_result{};
    if (args.json)
        print_json(m, file, where, cpu, s, pool, t, check);
    else
        print_text(m, file, where, cpu, pool, t, check);
    return check.mismatches.empty() ? 0 : 1;
}

}  // namespace

command add_load_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, load_args& args) {
        add_value(app, "--map-location", args.map_location, "SPEC",
                  R"(where storages go: cpu, meta, cuda, cuda:N, or a dict of saved
tags SAVED=DEVICE[,SAVED=DEVICE...] (cuda:1=cuda:0,cuda:2=cpu);
default (or 'none'): each storage to the device it was saved on)");
        add_value(app, "--cpu", args.cpu, "view|copy|cow",
                  R"(what a CPU destination gets: a read-only view of the file's
mapping (view, the default; no bytes move), an owned copy (copy),
or a writable copy-on-write view (cow))");
        add_staging_options(app, args.staging);
        add_flag(app, "--check", args.check,
                 R"(after the load, copy every placed storage back to the host and
compare it with the file's bytes; exit 1 on any difference)");
        add_flag(app, "--json", args.json,
                 R"(print one JSON object {"file", "map_location", "cpu", "options",
"devices": [{"device", "tensors", "storages", "bytes",
"allocations"}], "bytes_moved", "pinned_bytes", "open_seconds",
"place_seconds", "seconds", "gbps", "tensors": [{"path", "name",
"device", "dtype", "shape"}], "check": {"storages", "bytes",
"mismatches"} or null}; gbps is null when nothing moved)");
        add_open_flags(app, args.open);
    });
}

}  // namespace ptio_cli
