// tools/ptio/cmd_scan.cpp — `ptio scan FILE... [--json]`: every global every pickle of each
// file names, from the opcodes alone (as picklescan and modelscan do), so files that open
// refuses are scanned too.
#include <string>
#include <vector>

#include "cli.hpp"
#include "globals_report.hpp"
#include "json_output.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "ptio/error.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "scan",
    .summary = "list the globals a file's pickles name; exit 1 if any could run code",
    .synopsis = "usage: ptio scan FILE... [--json]",
    .description = R"(
List every global (class or function) that each pickle of each FILE names, as torch.load
would import it, reading the opcodes only: nothing is unpickled, so a file that the other
commands refuse is scanned too. Reads zip files (every *.pkl record, TorchScript's
included), the legacy format, the tar format (its sys_info and pickle members) and Hugging
Face indexes (every shard). Each global is judged:
  allowed   in torch's weights_only allowlist, or a container ptio writes itself
            (frozenset, defaultdict) that runs no code
  unknown   anything else: importing and calling it may run code
  unsafe    known to run code, load other pickles or touch the system (os.system, eval,
            cProfile.run, a nested torch.load, ...); other commands refuse the file
)",
    .footer = R"(exit status: 0 every global of every FILE is allowed, 1 some global is not, 2 bad
usage or a FILE that cannot be read (the others are still scanned).
)",
    .column = 16,
};

struct scan_args {
    std::vector<std::string> operands;
    bool json = false;
};

int run(const scan_args& args) {
    if (args.operands.empty()) throw usage_error("missing FILE");
    output out;
    std::string& s = out.text();
    bool clean = true;
    bool unreadable = false;
    json files = json::array();
    for (const std::string& file : args.operands) {
        std::vector<ptio::error> problems;
        std::vector<ptio::global_ref> found;
        try {
            found = ptio::scan_globals(file, [&](const ptio::error& e) { problems.push_back(e); });
        } catch (const ptio::error& e) {
            problems.push_back(e);
            unreadable = true;
        }
        clean = clean && all_allowed(found);
        // A pickle that breaks part way may hide what follows the break: not clean.
        if (!problems.empty()) clean = false;
        if (args.json) {
            json problem_rows = json::array();
            for (const auto& p : problems)
                problem_rows.push_back(json_object({{"code", ptio::to_string(p.code())}, {"message", p.what()}}));
            files.push_back(json_object({{"file", file},
                                         {"clean", all_allowed(found) && problems.empty()},
                                         {"globals", globals_json(found)},
                                         {"problems", std::move(problem_rows)}}));
            continue;
        }
        std::size_t flagged = 0;
        for (const auto& g : found) {
            if (g.judged != ptio::global_ref::verdict::allowed) ++flagged;
            s += file + ": " + g.record + ": at offset " + std::to_string(g.offset) + ": " +
                 std::string(ptio::to_string(g.judged)) + " " + g.qualified() + "\n";
            out.maybe_flush();
        }
        for (const auto& p : problems) s += file + ": error: " + std::string(ptio::to_string(p.code())) + ": " + p.what() + "\n";
        s += file + ": " + std::to_string(found.size()) + (found.size() == 1 ? " global, " : " globals, ") +
             (flagged == 0 && problems.empty() ? std::string("clean")
                                               : std::to_string(flagged) + " not allowed" +
                                                     (problems.empty() ? "" : ", scan incomplete")) +
             "\n";
    }
    if (args.json) print_json(out, json_object({{"clean", clean}, {"files", std::move(files)}}));
    if (unreadable) return 2;
    return clean ? 0 : 1;
}

}  // namespace

command add_scan_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, scan_args& args) {
        add_flag(app, "--json", args.json,
                 R"(print {"clean", "files": [{"file", "clean", "globals": [{"module",
"name", "record", "offset", "verdict", "weights_only"}], "problems":
[{"code", "message"}]}]})");
    });
}

}  // namespace ptio_cli
