// tools/ptio/cmd_verify.cpp — `ptio verify FILE [--json]`: check every record of a checkpoint.
#include <string>
#include <vector>

#include "command.hpp"
#include "json.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"

namespace ptio_cli {

namespace {

constexpr std::string_view usage = R"(usage: ptio verify FILE [--json]

Open a checkpoint with CRC checking on, then check everything opening defers: locate
every record's bytes, inflate deflated records and compare every CRC-32. Prints one
line per problem, then a summary.

exit status: 0 when the file is clean, 1 when problems were found, 2 when it cannot be
opened at all.

options:
  --json      print {"file", "ok", "records", "tensors", "problems": [{"code",
              "message", "record", "offset"}]}
  -h, --help  show this help
)";

constexpr option_spec options[] = {
    {"json", '\0', false},
};

int run(const parsed_args& args) {
    const std::string& file = single_file(args);
    const ptio::checkpoint ck =
        ptio::checkpoint::open(file, ptio::open_options{.verify_crc = true});
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

    output out;
    std::string& s = out.text();
    if (args.has("json")) {
        json::writer w(s);
        w.begin_object().key("file").string(file).key("ok").boolean(problems.empty());
        w.key("records").number(std::uint64_t{ck.records().size()});
        if (shards) w.key("shards").number(std::uint64_t{shards});
        w.key("tensors").number(std::uint64_t{tensors});
        w.key("problems").begin_array(true);
        for (const ptio::error& problem : problems) {
            w.begin_object().key("code").string(ptio::to_string(problem.code()));
            w.key("message").string(problem.what()).key("record").string(problem.record());
            w.key("offset");
            if (problem.offset())
                w.number(*problem.offset());
            else
                w.null();
            w.end_object();
            out.maybe_flush();
        }
        w.end_array().end_object();
        s += '\n';
    } else {
        for (const ptio::error& problem : problems) {
            s += problem.what();
            s += '\n';
            out.maybe_flush();
        }
        s += file;
        if (problems.empty()) {
            s += ": ok (" + (shards ? std::to_string(shards) + " shards, "
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

const command& verify_command() {
    static const command c{"verify", "check every record's bytes and CRC-32", usage, options, run};
    return c;
}

}  // namespace ptio_cli
