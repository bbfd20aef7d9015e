// tools/ptio/cli.hpp — the command line on CLI11: how a command registers itself, its
// options and its help text, and the usage errors every command reports the same way.
//
// Each cmd_*.cpp adds one subcommand to the `ptio` app and returns a `command`; main.cpp
// parses, then runs the chosen command's `run`. Option values are kept as the user typed
// them (the last one when an option is repeated) and checked by the command, which names
// the option and the bad value in its usage_error. Only main.cpp and cli.cpp see CLI11's
// headers; the commands hold a CLI::App only by reference. The CLI11 apps live as long as
// the root app; nothing here is thread-safe, as nothing needs to be.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace ptio_cli {

/// Bad usage: main prints "ptio CMD: " and the message on one line to stderr and exits 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A subcommand: the CLI11 app its words parse into and what runs when it was chosen.
struct command {
    CLI::App* app = nullptr;
    /// Returns the exit status. Throws ptio::error (exit 2), usage_error (exit 2) or another
    /// std::exception (exit 3).
    std::function<int()> run;
};

/// What `--help` prints around the options, laid out as set_help says.
struct help_text {
    std::string_view name;
    std::string_view summary;      // its line in `ptio --help`
    std::string_view synopsis;     // "usage: ptio ls FILE [--json] …", without the last '\n'
    std::string_view description;  // the paragraphs before the options, ending in '\n'
                                   // (a first '\n' is dropped: R"( may end its line)
    std::string_view footer = {};  // after the options, ending in '\n'
    std::size_t column = 16;       // where option descriptions (or command summaries) start
};

/// Gives `app` ptio's --help layout: the synopsis, the description, "options:" with each
/// option's names ("-j, --jobs N") and its description from `column` on (a name as long as
/// that gets a line of its own), "-h, --help" last, "commands:" with one line per command
/// (its summary from `column` on), the footer. Options and commands in an empty group are
/// left out. `text` is copied.
void set_help(CLI::App& app, const help_text& text);

namespace detail {
/// A subcommand with `-h, --help`, whose unknown options are kept for
/// reject_unknown_options and whose repeated options keep their last value.
[[nodiscard]] CLI::App& add_subcommand(CLI::App& ptio, const help_text& text);
/// The words that are not options (FILE, NAME, …), in order; the command checks the count.
void add_operands(CLI::App& app, std::vector<std::string>& target);
}  // namespace detail

/// Adds a command to `ptio`. Its words land in an `Args` (which has a
/// `std::vector<std::string> operands`, filled with the words that are not options);
/// `add_options(app, args)` declares its options, in the order --help lists them; `run(args)`
/// runs when the command was chosen. The Args lives as long as the returned command.
template <class Args, class AddOptions>
[[nodiscard]] command add_command(CLI::App& ptio, const help_text& text, int (*run)(const Args&),
                                  AddOptions add_options) {
    auto args = std::make_shared<Args>();
    CLI::App& app = detail::add_subcommand(ptio, text);
    detail::add_operands(app, args->operands);
    add_options(app, *args);
    return {&app, [args, run] { return run(*args); }};
}

/// A flag (`--json`); `--json=VALUE` is a usage error.
void add_flag(CLI::App& app, const std::string& names, bool& target,
              const std::string& description);
/// An option taking one value (`--jobs N`, `--jobs=N`, `-j N`, `-jN`), left as typed.
void add_value(CLI::App& app, const std::string& names, std::optional<std::string>& target,
               const std::string& value_name, const std::string& description);
/// A repeatable option taking one value each time; every value, in order.
void add_values(CLI::App& app, const std::string& names, std::vector<std::string>& target,
                const std::string& value_name, const std::string& description);

/// Throws usage_error("unknown option '…'") for the first word of `app` that named no option.
void reject_unknown_options(const CLI::App& app);
/// The message of a CLI11 parse error in ptio's words ("option '--cpu' needs a value").
/// `args` are the words after the program name, `chosen` the command being parsed (or null).
[[nodiscard]] std::string usage_message(const CLI::ParseError& e, std::span<char* const> args,
                                        const CLI::App* chosen);

/// The single FILE operand; throws usage_error("missing FILE" / "expected one FILE, got N").
[[nodiscard]] const std::string& single_file(const std::vector<std::string>& operands);

/// A whole number in [lo, hi] given to option `--name`; `fallback` when absent. Throws
/// usage_error("--NAME needs a number from LO to HI, not 'TEXT'").
[[nodiscard]] std::uint64_t number_option(const std::optional<std::string>& text,
                                          std::string_view name, std::uint64_t lo, std::uint64_t hi,
                                          std::uint64_t fallback);

command add_ls_command(CLI::App& ptio);
command add_show_command(CLI::App& ptio);
command add_verify_command(CLI::App& ptio);
command add_load_command(CLI::App& ptio);
command add_bench_command(CLI::App& ptio);
command add_cp_command(CLI::App& ptio);
command add_devices_command(CLI::App& ptio);
command add_sample_command(CLI::App& ptio);
command add_extra_command(CLI::App& ptio);
command add_scan_command(CLI::App& ptio);

}  // namespace ptio_cli
