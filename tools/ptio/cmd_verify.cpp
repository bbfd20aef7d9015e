// tools/ptio/cmd_verify.cpp — `ptio verify FILE [--json]`: check every record of a checkpoint.
#include <string>
#include <vector>

#include "cli.hpp"
#include "globals_report.hpp"
#include "json_output.hpp"
#include "open_flags.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "verify",
    .summary = "check every record's bytes and CRC-32",
    .synopsis = "usage: ptio verify FILE [--json]",
    .description = R"(
Open a checkpoint with CRC checking on, then check everything opening defers: locate
every record's bytes, inflate deflated records and compare every CRC-32. Prints one
line per problem, then a summary.

exit status: 0 when the file is clean, 1 when problems were found, 2 when it cannot be
opened at all.
)",
    .column = 14,
};

struct verify_args {
    std::vector<std::string> operands;
    bool json = false;
    open_flags open;
};

int run(const verify_args& args) {
    const std::string& file = single_file(args.operands);
    const ptio::checkpoint ck =
        ptio::checkpoint::open(file, open_options_of(args.open, ptio::open_options{.verify_crc = true}));
    std::vector<ptio::error> problems;
    ck.verify([&](const ptio::error& problem) { problems.push_back(problem); });
    // A sharded checkpoint has no records of its own (its shards are counted instead), and
    // lists no tensors while a shard is broken.
    const std::size_t shards = ck.shard_files().size();
    std::size_t tensors = 0;
    try {
        tensors = ck.tensors().size();
    } catch (const ptio::error&) {
    }

    std::span<const ptio::global_ref> globals;
    try {
        globals = ck.globals();
    } catch (const ptio::error&) {  // a broken shard: a problem verify reported already
    }
    warn_globals(globals);

    output out;
    std::string& s = out.text();
    if (args.json) {
        json doc = {{"file", file}, {"ok", problems.empty()}, {"records", ck.records().size()}};
        if (shards) doc["shards"] = shards;
        doc["tensors"] = tensors;
        json& rows = doc["problems"] = json::array();
        doc["globals"] = globals_json(globals, ck.format() == "sharded");
        for (const ptio::error& problem : problems)
            rows.push_back({{"code", ptio::to_string(problem.code())},
                            {"message", problem.what()},
                            {"record", problem.record()},
                            {"offset", problem.offset() ? json(*problem.offset()) : json()}});
        print_json(out, doc);
    } else {
        for (const ptio::error& problem : problems) {
            s += problem.what();
            s += '\n';
            out.maybe_flush();
        }
        s += file;
        if (problems.empty()) {
            s += ": ok (" +
                 (shards ? std::to_string(shards) + " shards, "
                         : std::to_string(ck.records().size()) + " records, ") +
                 std::to_string(tensors) + " tensors)\n";
        } else {
            s += ": " + std::to_string(problems.size()) +
                 (problems.size() == 1 ? " problem\n" : " problems\n");
        }
    }
    return problems.empty() ? 0 : 1;
}

}  // namespace

command add_verify_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, verify_args& args) {
        add_flag(app, "--json", args.json,
                 R"(print {"file", "ok", "records", "tensors", "problems": [{"code",
"message", "record", "offset"}], "globals": [as in ls --json]})");
        add_open_flags(app, args.open);
    });
}

}  // namespace ptio_cli
