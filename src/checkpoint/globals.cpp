// A checkpoint's globals: what open's rebuilder saw (checkpoint::globals), and the opcode scan
// of every pickle of a file that needs no open (ptio::scan_globals). One verdict for both,
// from the torch layer's table.
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/file_source.hpp"
#include "checkpoint/sniff.hpp"
#include "io/cursor.hpp"
#include "io/mapped_file.hpp"
#include "pickle/budget.hpp"
#include "pickle/scan.hpp"
#include "ptio/checkpoint.hpp"
#include "torch/globals.hpp"
#include "torch/legacy.hpp"
#include "zip/archive.hpp"

namespace ptio {

std::string_view to_string(global_ref::verdict v) noexcept {
    switch (v) {
        case global_ref::verdict::allowed: return "allowed";
        case global_ref::verdict::unknown: return "unknown";
        case global_ref::verdict::unsafe: return "unsafe";
    }
    return "unknown";
}

namespace detail {
namespace {

global_ref judged(const torch::global_info& g, std::string file, std::string record, std::uint64_t at) {
    global_ref r;
    r.module = g.module;
    r.name = g.name;
    r.file = std::move(file);
    r.record = std::move(record);
    r.offset = at;
    r.weights_only = g.weights_only_ok;
    r.judged = g.unsafe         ? global_ref::verdict::unsafe
               : g.writable()   ? global_ref::verdict::allowed
                                : global_ref::verdict::unknown;
    return r;
}

// One pickle's opcodes from `c`; a break is reported, what came before it kept.
bool scan_one(cursor& c, const std::string& file, const std::string& record, const limits& caps,
              arena& costs, std::vector<global_ref>& out,
              const std::function<void(const error&)>& problem) {
    std::vector<pickle::scanned_global> found;
    bool whole = true;
    try {
        pickle::scan_globals(c, found, caps, costs);
    } catch (const error& e) {
        if (problem) problem(e);
        whole = false;
    }
    for (const auto& f : found) {
        global_ref r = judged(torch::classify(f.module, f.name), file, record, f.at);
        // Not followed, or a class changed in place: assume the worst.
        if (f.module == "?" || f.on_class) r.judged = global_ref::verdict::unsafe;
        out.push_back(std::move(r));
    }
    return whole;
}

}  // namespace

void file_source::keep_globals(const torch::rebuilder& rb) {
    for (const auto& s : rb.globals_seen()) globals_.push_back(judged(s.info, file_, s.record, s.at));
}

}  // namespace detail

std::vector<global_ref> scan_globals(const std::filesystem::path& path,
                                     const std::function<void(const error&)>& problem) {
    using namespace detail;
    if (is_index(path)) {  // a Hugging Face index: each shard's (reading the index only)
        std::vector<global_ref> all;
        for (const auto& shard : checkpoint::open(path).shard_files())
            for (auto& g : scan_globals(shard, problem)) all.push_back(std::move(g));
        return all;
    }
    const std::string file = path.string();
    const mapped_file map = mapped_file::map(path);
    const auto bytes = map.bytes();
    const limits caps;
    std::vector<global_ref> out;
    // The scan may cost what opening could (pickle/budget): its pickles' bytes in the file
    // times a ratio, inflated copies included, so a deflated bomb is refused before inflating.
    arena costs;
    costs.set_budget(pickle::budget_for(caps, file, bytes.size()));
    switch (sniff(bytes, file)) {
        case file_layout::zip: {
            const zip::archive z(bytes, file, caps.max_records);
            std::uint64_t pickle_file_bytes = 0;
            for (const auto& e : z.entries())
                if (e.name.ends_with(".pkl")) pickle_file_bytes += e.compressed_size;
            costs.set_budget(pickle::budget_for(caps, file, pickle_file_bytes));
            for (const auto& e : z.entries()) {
                if (!e.name.ends_with(".pkl")) continue;
                if (e.size > caps.max_pickle_bytes)
                    throw error(errc::limit_exceeded, file, std::string(e.name), e.header_offset,
                                "a pickle of " + std::to_string(e.size) + " bytes, over the cap of " +
                                    std::to_string(caps.max_pickle_bytes));
                std::vector<std::byte> inflated;
                std::span<const std::byte> pkl;
                std::uint64_t base = 0;
                if (e.method == 0) {
                    pkl = z.stored(e);
                    base = z.payload_offset(e);
                } else {
                    charge_inflated(costs, z, e, file);
                    inflated = z.extract(e);
                    pkl = inflated;
                }
                cursor c(pkl, {file, e.name, base});
                (void)scan_one(c, file, std::string(e.name), caps, costs, out, problem);
            }
            break;
        }
        case file_layout::legacy: {
            // The magic number, the protocol, sys_info, the object, the storage keys.
            cursor c(bytes, {file, "pickle", 0});
            for (int i = 0; i < 5 && !c.at_end(); ++i)
                if (!scan_one(c, file, "pickle", caps, costs, out, problem)) break;
            break;
        }
        case file_layout::tar:
            for (const auto& m : torch::tar_pickles(bytes, file, caps)) {
                cursor c(m.bytes, {file, m.name, m.offset});
                (void)scan_one(c, file, m.name, caps, costs, out, problem);
            }
            break;
    }
    return out;
}

}  // namespace ptio
