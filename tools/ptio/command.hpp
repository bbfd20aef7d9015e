// tools/ptio/command.hpp — what main.cpp needs to know about a subcommand, and the parsed
// command line every subcommand receives.
#pragma once

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ptio_cli {

/// One option a command accepts: `--long`, optionally `-s`, optionally taking a value
/// (`--long VALUE`, `--long=VALUE`, `-sVALUE`, `-s VALUE`).
struct option_spec {
    std::string_view long_name;  // without the dashes: "json"
    char short_name = '\0';      // '\0': none
    bool takes_value = false;
};

/// Bad usage: main prints the message and the command's usage to stderr and exits 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The command line after the command name.
struct parsed_args {
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> options;  // long name → value ("" for flags)
    bool help = false;

    [[nodiscard]] bool has(std::string_view name) const;
    /// The last value given for an option, if any.
    [[nodiscard]] std::optional<std::string> value(std::string_view name) const;
};

/// Parses `args` (the words after the command name). `-h` / `--help` set `help` and are
/// accepted anywhere; `--` ends the options. Throws usage_error on an unknown option or a
/// missing value.
[[nodiscard]] parsed_args parse_args(std::span<char* const> args,
                                     std::span<const option_spec> specs);

/// The single FILE operand every current command takes; throws usage_error otherwise.
[[nodiscard]] const std::string& single_file(const parsed_args& args);

struct command {
    std::string_view name;
    std::string_view summary;  // one line for `ptio --help`
    std::string_view usage;    // the full `--help` text, ending in '\n'
    std::span<const option_spec> options;
    /// Runs the command; returns the exit status. Throws ptio::error (exit 2),
    /// usage_error (exit 2) or another std::exception (exit 3).
    int (*run)(const parsed_args& args);
};

const command& ls_command();
const command& show_command();
const command& verify_command();
const command& load_command();
const command& bench_command();
const command& cp_command();
const command& devices_command();
const command& sample_command();
const command& extra_command();

}  // namespace ptio_cli
