// tools/ptio/cmd_extra.cpp — `ptio extra FILE [NAME]`: the extra files of a TorchScript archive.
#include <cstdint>
#include <string>
#include <vector>

#include "cli.hpp"
#include "open_flags.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "pyformat.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "extra",
    .summary = "list or print the extra files of a TorchScript archive",
    .synopsis = "usage: ptio extra FILE [NAME]",
    .description = R"(
The extra files of an archive: what torch.jit.save(..., _extra_files={NAME: bytes}) stored
under extra/. Without NAME, list them, one a line: the size in bytes, then the name. With
NAME, write that file's bytes to stdout, unchanged (inflated if the archive deflated them).
A name the archive lacks is an error (not_found, exit status 2).
)",
    .column = 14,
};

struct extra_args {
    std::vector<std::string> operands;  // FILE [NAME]
    open_flags open;
};

int run(const extra_args& args) {
    const std::vector<std::string>& operands = args.operands;
    if (operands.empty()) throw usage_error("missing FILE");
    if (operands.size() > 2)
        throw usage_error("expected FILE [NAME], got " + std::to_string(operands.size()) +
                          " operands");
    const ptio::checkpoint ck = ptio::checkpoint::open(operands[0], open_options_of(args.open));
    output out;
    if (operands.size() == 2) {
        const auto bytes = ck.extra_file(operands[1]);
        out.text().assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return 0;
    }
    std::string& s = out.text();
    const auto records = ck.records();
    for (const std::string& name : ck.extra_files()) {
        std::uint64_t bytes = 0;
        for (const auto& r : records)
            if (r.name.size() == 6 + name.size() && r.name.ends_with(name) &&
                r.name.starts_with("extra/"))
                bytes = r.size;
        const std::string size = std::to_string(bytes);
        s.append(size.size() < 10 ? 10 - size.size() : 0, ' ');
        s += size;
        s += "  ";
        append_escaped_name(s, name);
        s += '\n';
        out.maybe_flush();
    }
    return 0;
}

}  // namespace

command add_extra_command(CLI::App& ptio) {
    return add_command(ptio, help, run,
                       [](CLI::App& app, extra_args& args) { add_open_flags(app, args.open); });
}

}  // namespace ptio_cli
