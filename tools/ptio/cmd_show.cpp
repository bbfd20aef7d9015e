// tools/ptio/cmd_show.cpp — `ptio show FILE [--json]`: the object tree.
#include <charconv>
#include <limits>
#include <string>

#include "command.hpp"
#include "json.hpp"
#include "output.hpp"
#include "ptio/checkpoint.hpp"
#include "repr.hpp"
#include "tree_json.hpp"

namespace ptio_cli {

namespace {

constexpr std::string_view usage = R"(usage: ptio show FILE [--json]

Print the object a checkpoint holds, as Python's print(repr(obj)) would, without running
any of its code: dicts, OrderedDicts, lists, tuples, sets, str, bytes, numbers, None and
booleans as Python writes them. Tensors are summarised as tensor(float32, [3, 4]) or
Parameter(...), with requires_grad=True when set. Classes ptio did not run print as
module.name (a bare global), module.name(args) (a call) or module.name(args, state=...)
(an instance with its state). A container inside itself prints as [...] / {...}, and so
does a large subtree already printed once. A container too long for its line is
written one element per line.

options:
  --json         print {"file", "format", "byteorder", "root"}, where root is the tree
                 with a "kind" field on every node
  -w, --width N  break lines longer than N columns (default 100; 0: never break)
  -h, --help     show this help
)";

constexpr option_spec options[] = {
    {"json", '\0', false},
    {"width", 'w', true},
};

std::size_t line_width(const parsed_args& args) {
    const auto text = args.value("width");
    if (!text) return 100;
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size())
        throw usage_error("--width needs a number, not '" + *text + "'");
    return n == 0 ? std::numeric_limits<std::size_t>::max() / 2 : n;
}

int run(const parsed_args& args) {
    const std::string& file = single_file(args);
    const std::size_t width = line_width(args);
    const ptio::checkpoint ck = ptio::checkpoint::open(file);
    output out;
    if (args.has("json")) {
        json::writer w(out.text());
        w.begin_object().key("file").string(file).key("format").string(ck.format());
        w.key("byteorder").string(ck.byteorder()).key("root");
        write_tree_json(w, ck.root());
        w.end_object();
        out.text() += '\n';
    } else {
        append_repr(out.text(), ck.root(), width);
    }
    return 0;
}

}  // namespace

const command& show_command() {
    static const command c{"show", "print the object tree as Python's repr would", usage, options,
                           run};
    return c;
}

}  // namespace ptio_cli
