// tools/ptio/cmd_show.cpp — `ptio show FILE [--json]`: the object tree.
#include <charconv>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "globals_report.hpp"
#include "json_output.hpp"
#include "open_flags.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "repr.hpp"
#include "tree_json.hpp"

namespace ptio_cli {

namespace {

constexpr help_text help{
    .name = "show",
    .summary = "print the object tree as Python's repr would",
    .synopsis = "usage: ptio show FILE [--json]",
    .description = R"(
Print the object a checkpoint holds, as Python's print(repr(obj)) would, without running
any of its code: dicts, OrderedDicts, lists, tuples, sets, str, bytes, numbers, None and
booleans as Python writes them. Tensors are summarised as tensor(float32, [3, 4]) or
Parameter(...), with requires_grad=True when set; a storage saved on its own as
storage(float32, 12), its dtype and size. Classes ptio did not run print as
module.name (a bare global), module.name(args) (a call) or module.name(args, state=...)
(an instance with its state). A container inside itself prints as [...] / {...}, and so
does a large subtree already printed once. A container too long for its line is
written one element per line.
)",
    .column = 17,
};

struct show_args {
    std::vector<std::string> operands;
    bool json = false;
    open_flags open;
    std::optional<std::string> width;
};

std::size_t line_width(const std::optional<std::string>& text) {
    if (!text) return 100;
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size())
        throw usage_error("--width needs a number, not '" + *text + "'");
    return n == 0 ? std::numeric_limits<std::size_t>::max() / 2 : n;
}

int run(const show_args& args) {
    const std::string& file = single_file(args.operands);
    const std::size_t width = line_width(args.width);
    const ptio::checkpoint ck = ptio::checkpoint::open(file, open_options_of(args.open));
    warn_globals(ck.globals());
    output out;
    if (args.json) {
        json_writer w(out);
        w.begin_object().key("file").value(file).key("format").value(ck.format());
        w.key("byteorder").value(ck.byteorder()).key("root");
        write_tree_json(w, ck.root());
        w.key("globals").value(globals_json(ck.globals(), ck.format() == "sharded"));
        w.end();
    } else {
        append_repr(out.text(), ck.root(), width);
    }
    return 0;
}

}  // namespace

command add_show_command(CLI::App& ptio) {
    return add_command(ptio, help, run, [](CLI::App& app, show_args& args) {
        add_flag(app, "--json", args.json,
                 R"(print {"file", "format", "byteorder", "root", "globals"}, where root is
the tree with a "kind" field on every node, and globals as in ls --json)");
        add_value(app, "-w,--width", args.width, "N",
                  "break lines longer than N columns (default 100; 0: never break)");
        add_open_flags(app, args.open);
    });
}

}  // namespace ptio_cli
