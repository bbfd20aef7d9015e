// tools/ptio/cmd_cp.cpp — `ptio cp SRC DST [--only GLOB ...] [--rename OLD=NEW ...]`: copy a
// checkpoint through ptio::save, optionally a subset of it or with renamed keys.
#include <fnmatch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli.hpp"
#include "open_flags.hpp"
#include "json_output.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"
#include "ptio/tree.hpp"
#include "ptio/save.hpp"
#include "units.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "cp",
    .summary = "copy a checkpoint through ptio's writer, a subset or renamed",
    .synopsis =
        "usage: ptio cp SRC DST [--only GLOB ...] [--rename OLD=NEW ...]\n"
        "               [--allow-global MODULE.NAME ...] [--drop-objects] [--sync] [--json]",
    .description = R"(
Copy a checkpoint through ptio's writer: the result is a torch.save file that torch.load
reads as the same object (tensors, their storages, sharing and location tags, and every
other value). Storage bytes go from SRC's mapping straight to DST. DST gets a name only
once it is complete (an unnamed file linked into place), so a failed, interrupted or killed
copy leaves nothing behind. If SRC shrinks while it is copied (rewritten in place), the copy
fails with an io_error.

Only globals torch.load(weights_only=True) accepts are written (plus frozenset and
defaultdict, which run no code): an object of any other class or function (a pickled
nn.Module, an optimizer's class, an argparse.Namespace, ...) is refused with unsafe_global,
the message naming every such global and where SRC names it, and nothing is written.
Name the ones you trust with --allow-global, or write None in their place with
--drop-objects. A global known to run code (os.system, cProfile.run, ...) is never written.

  ptio cp train.ckpt weights.pt --only 'model.*'          drop the optimizer state
  ptio cp ddp.pt plain.pt --rename module.=               strip DataParallel's prefix
)",
    .footer = "exit status: 0 written, 2 bad usage, an unreadable SRC, a global refused or an\n"
              "unwritable DST (nothing is written then).\n",
    .column = 22,
};

struct cp_args {
    std::vector<std::string> operands;
    std::vector<std::string> only;
    std::vector<std::string> rename;
    std::vector<std::string> allow_global;
    bool drop_objects = false;
    open_flags open;
    bool sync = false;
    bool json = false;
};

struct rename_rule {
    std::string from, to;
};

bool is_container(const ptio::value& v) {
    return v.is(ptio::kind::dict) || v.is(ptio::kind::list) || v.is(ptio::kind::tuple);
}

std::string join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
}

bool matches(const std::vector<std::string>& globs, const std::string& name) {
    for (const auto& g : globs)
        if (::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
    return false;
}

// The part of container `v` (named `prefix`) that the globs select, or an empty optional.
std::optional<ptio::tree> select(const ptio::checkpoint& ck, const ptio::value& v,
                                 const std::string& prefix, const std::vector<std::string>& globs) {
    ptio::tree out = ptio::tree::from(v, ck);
    const bool dict = v.is(ptio::kind::dict);
    const std::size_t n = dict ? v.entries().size() : v.items().size();
    for (std::size_t i = n; i-- > 0;) {
        const ptio::value& child = dict ? v.entries()[i].second : v.items()[i];
        const std::string name = join(prefix, dict ? ptio::key_text(v.entries()[i].first) : std::to_string(i));
        if (matches(globs, name)) continue;
        std::optional<ptio::tree> part;
        if (is_container(child)) part = select(ck, child, name, globs);
        if (part)
            out.replace(i, *part);
        else
            out.remove(i);
    }
    if ((dict ? out.entries().size() : out.items().size()) == 0) return std::nullopt;
    return out;
}

std::optional<std::string> renamed(const std::string& key, const std::vector<rename_rule>& rules) {
    for (const auto& r : rules) {
        if (key == r.from) return r.to;
        if (r.from.back() == '.' && key.starts_with(r.from)) return r.to + key.substr(r.from.size());
        if (key.size() > r.from.size() && key.starts_with(r.from) && key[r.from.size()] == '.')
            return r.to.empty() ? key.substr(r.from.size() + 1) : r.to + key.substr(r.from.size());
    }
    return std::nullopt;
}

void apply_renames(ptio::tree t, const std::vector<rename_rule>& rules, const std::string& where,
                   std::size_t& count, std::size_t depth = 0) {
    if (depth > 1000) throw ptio::error(ptio::errc::limit_exceeded, "--rename: nesting deeper than 1000");
    if (t.type() == ptio::kind::dict) {
        std::unordered_map<std::string, std::size_t> at;  // the dict's str keys as they stand now
        for (std::size_t i = 0; i < t.entries().size(); ++i)
            if (t.entries()[i].first.type() == ptio::kind::string)
                at.emplace(std::string(t.entries()[i].first.as_string()), i);
        for (std::size_t i = 0; i < t.entries().size(); ++i) {
            const ptio::tree& k = t.entries()[i].first;
            if (k.type() != ptio::kind::string) continue;
            const std::string old(k.as_string());
            if (auto to = renamed(old, rules)) {
                if (auto hit = at.find(*to); hit != at.end() && hit->second != i)
                    throw ptio::error(ptio::errc::invalid_argument,
                                      "--rename: renaming '" + old + "' to '" + *to + "' in " +
                                          (where.empty() ? "the root" : "'" + where + "'") +
                                          ": that key is already there");
                at.erase(old);
                at[*to] = i;
                t.rename(i, ptio::tree(*to));
                ++count;
            }
        }
        for (const auto& [k, v] : t.entries())
            apply_renames(v, rules, join(where, k.type() == ptio::kind::string ? std::string(k.as_string()) : "?"),
                          count, depth + 1);
    } else if (t.type() == ptio::kind::list || t.type() == ptio::kind::tuple) {
        for (std::size_t i = 0; i < t.items().size(); ++i)
            apply_renames(t.items()[i], rules, join(where, std::to_string(i)), count, depth + 1);
    }
}

int run(const cp_args& args) {
    if (args.operands.size() != 2) throw usage_error("cp takes SRC and DST");
    const std::string& src = args.operands[0];
    const std::string& dst = args.operands[1];
    const std::vector<std::string>& globs = args.only;
    std::vector<rename_rule> rules;
    for (const std::string& val : args.rename) {
        const auto eq = val.find('=');
        if (eq == std::string::npos || eq == 0)
            throw usage_error("--rename wants OLD=NEW with a non-empty OLD, not '" + val + "'");
        rules.push_back({val.substr(0, eq), val.substr(eq + 1)});
    }
    std::error_code ec;
    if (std::filesystem::equivalent(src, dst, ec))
        throw usage_error("SRC and DST are the same file");

    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    for (const std::string& g : args.allow_global)
        if (g.find('.') == std::string::npos || g.front() == '.' || g.back() == '.')
            throw usage_error("--allow-global wants MODULE.NAME, not '" + g + "'");
    const ptio::checkpoint ck = ptio::checkpoint::open(src, open_options_of(args.open));
    const auto t1 = clock::now();
    // A copy of a TorchScript module would name __torch__ classes torch.load cannot import,
    // and would drop the code and its constants: refuse rather than write such a file.
    if (ck.format() == "torchscript")
        throw ptio::error(ptio::errc::invalid_argument,
                          src + " is a TorchScript archive; cp writes torch.save files, which "
                                "cannot hold a TorchScript module");

    ptio::tree root = ptio::tree::from(ck.root(), ck);
    if (!globs.empty()) {
        std::string list;
        for (const auto& g : globs) list += (list.empty() ? "'" : ", '") + g + "'";
        if (!is_container(ck.root()))
            throw ptio::error(ptio::errc::invalid_argument,
                              "--only: the root of " + src + " is a " +
                                  std::string(ptio::to_string(ck.root().type())) + ", not a container");
        auto part = select(ck, ck.root(), "", globs);
        if (!part) throw ptio::error(ptio::errc::invalid_argument, "--only " + list + " matches nothing in " + src);
        root = *part;
    }
    std::size_t renames = 0;
    if (!rules.empty()) {
        apply_renames(root, rules, "", renames);
        if (renames == 0) throw ptio::error(ptio::errc::invalid_argument, "--rename: no key matches any rule");
    }

    const auto t2 = clock::now();
    ptio::save_options how;
    how.sync = args.sync;
    how.allow_globals = args.allow_global;
    how.drop_objects = args.drop_objects;
    const ptio::save_stats stats = ptio::save(root, dst, how);
    for (const std::string& d : stats.dropped) {
        const std::string line = "ptio cp: dropped the objects of " + d + ": written as None\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
    const auto t3 = clock::now();
    const double open_s = std::chrono::duration<double>(t1 - t0).count();
    const double write_s = std::chrono::duration<double>(t3 - t2).count();
    const double rate = gbps(stats.file_bytes, write_s);

    output out;
    std::string& s = out.text();
    if (args.json) {
        print_json(out, {{"source", src},
                         {"destination", dst},
                         {"tensors", stats.tensors},
                         {"storages", stats.storages},
                         {"storage_bytes", stats.storage_bytes},
                         {"file_bytes", stats.file_bytes},
                         {"zip64", stats.zip64},
                         {"dropped", stats.dropped},
                         {"open_seconds", open_s},
                         {"write_seconds", write_s},
                         {"write_gbps", rate}});
    } else {
        s += "wrote " + dst + ": " + plural(stats.tensors, "tensor", "tensors") + ", " +
             plural(stats.storages, "storage", "storages") + ", " + human_bytes(stats.file_bytes) +
             (renames ? ", " + plural(renames, "key", "keys") + " renamed" : std::string()) + " in " +
             human_seconds(write_s) + " (" + human_rate(write_s > 0 ? static_cast<double>(stats.file_bytes) / write_s : 0) +
             ")\n";
    }
    return 0;
}

}  // namespace

command add_cp_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, cp_args& args) {
        add_values(app, "--only", args.only, "GLOB",
                   R"(keep only what GLOB matches (repeatable; a union). GLOB is matched
with fnmatch against dotted names, as `ptio ls` prints them
('model.fc1.weight', 'optimizer.state.0.exp_avg', 'epoch'); '*'
crosses dots. A matched name keeps everything under it; containers
left empty are dropped, and list items close up.)");
        add_values(app, "--rename", args.rename, "OLD=NEW",
                   R"(rename dict keys (repeatable; the first rule that matches wins): a
key equal to OLD, or starting with 'OLD.', has that part replaced by
NEW; with OLD ending in '.', any key starting with OLD. NEW may be
empty ('module.=' strips a prefix). Applies at every depth; two keys
of one dict may not end up equal.)");
        add_values(app, "--allow-global", args.allow_global, "MODULE.NAME",
                   R"(write objects of this global too (repeatable): a class or function
you trust torch.load to import and call ('mypkg.models.Net'))");
        add_flag(app, "--drop-objects", args.drop_objects,
                 R"(write None in place of each object whose global is not allowed
(and of an allowed call whose arguments hold one), and name each
such global on stderr, instead of refusing the copy)");
        add_open_flags(app, args.open);
        add_flag(app, "--sync", args.sync, "fsync DST before renaming it into place");
        add_flag(app, "--json", args.json,
                 R"(print {"source", "destination", "tensors", "storages",
"storage_bytes", "file_bytes", "zip64", "dropped", "open_seconds",
"write_seconds", "write_gbps"})");
    });
}

}  // namespace ptio_cli
