// tools/ptio/main.cpp — `ptio <command> …`: parses the command line (CLI11), runs the chosen
// command, and turns failures into messages and exit statuses:
//   0 success, 1 the command found problems (verify), 2 bad usage or a ptio::error,
//   3 anything unexpected.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "ptio/error.hpp"
#include "ptio/version.hpp"

namespace {

using ptio_cli::command;

constexpr ptio_cli::help_text root_text{
    .name = "ptio",
    .summary = "",
    .synopsis = "usage: ptio <command> [options] FILE\n       ptio --version",
    .description = R"(
Read PyTorch checkpoints (torch.save files) without Python and without running any
code they contain.
)",
    .footer = R"(Run 'ptio <command> --help' for a command's options.

exit status: 0 success, 1 problems found (verify, scan), 2 bad usage or an unreadable file,
3 an internal error.
)",
    .column = 12,
};

void write(std::FILE* stream, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stream);
}

// The root app: its -h and -V are hidden from the help, as is `ptio help [COMMAND]`.
struct command_line {
    CLI::App root{"", "ptio"};
    std::vector<command> commands;
    CLI::App* help = nullptr;
    std::vector<std::string> help_topic;

    command_line() {
        ptio_cli::set_help(root, root_text);
        root.allow_extras();            // an unknown command word is reported by run()
        root.require_subcommand(0, 1);  // so a FILE named like a command stays a FILE
        root.set_help_flag("-h,--help")->group("");
        root.set_version_flag("-V,--version", std::string("ptio ") + ptio::version_string)
            ->group("");
        for (const auto add :
             {ptio_cli::add_ls_command, ptio_cli::add_show_command, ptio_cli::add_verify_command,
              ptio_cli::add_load_command, ptio_cli::add_bench_command, ptio_cli::add_cp_command,
              ptio_cli::add_devices_command, ptio_cli::add_sample_command,
              ptio_cli::add_extra_command, ptio_cli::add_scan_command})
            commands.push_back(add(root));
        help = root.add_subcommand("help")->group("")->allow_extras();
        help->add_option("COMMAND", help_topic);
    }

    [[nodiscard]] const command* chosen() const {
        for (const command& c : commands)
            if (c.app->parsed()) return &c;
        return nullptr;
    }

    // Not root.help(), which would describe the command chosen (`help` itself).
    [[nodiscard]] std::string root_help() const {
        return root.get_formatter()->make_help(&root, "", CLI::AppFormatMode::Normal);
    }

    // `ptio help [COMMAND]`: the command's help, else (none, or an unknown one) the root's.
    [[nodiscard]] std::string asked_help() const {
        for (const command& c : commands)
            if (!help_topic.empty() && c.app->get_name() == help_topic.front())
                return c.app->help();
        return root_help();
    }
};

// `who` becomes " ls" once the command is known, for the usage error's "ptio ls: ", and
// `usage` that command's help, which follows a usage error as it always has.
int run(command_line& cli, int argc, char** argv, std::string& who, std::string& usage) {
    usage = cli.root_help();
    const auto chosen = [&] {
        const command* c = cli.chosen();
        if (c != nullptr) {
            who = " " + c->app->get_name();
            usage = c->app->help();
        }
        return c;
    };
    if (argc < 1) throw ptio_cli::usage_error("missing command");  // no argv[0] even
    try {
        cli.root.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        if (cli.help->parsed()) {
            write(stdout, cli.asked_help());
            return 0;
        }
        const command* c = chosen();
        if (c != nullptr) ptio_cli::reject_unknown_options(*c->app);  // reported even so
        write(stdout, c != nullptr ? c->app->help() : cli.root_help());
        return 0;
    } catch (const CLI::CallForVersion& e) {
        write(stdout, std::string(e.what()) + "\n");
        return 0;
    } catch (const CLI::ParseError& e) {
        const command* c = chosen();
        const std::span<char* const> args(argv + 1, static_cast<std::size_t>(argc - 1));
        throw ptio_cli::usage_error(
            ptio_cli::usage_message(e, args, c != nullptr ? c->app : &cli.root));
    }
    if (const auto extra = cli.root.remaining(); !extra.empty())
        throw ptio_cli::usage_error("unknown command '" + extra.front() + "'");
    if (cli.help->parsed()) {
        write(stdout, cli.asked_help());
        return 0;
    }
    const command* c = chosen();
    if (c == nullptr) throw ptio_cli::usage_error("missing command");
    ptio_cli::reject_unknown_options(*c->app);
    return c->run();
}

}  // namespace

int main(int argc, char** argv) {
    std::string who, usage;
    int status = 0;
    try {
        command_line cli;
        status = run(cli, argc, argv, who, usage);
    } catch (const ptio_cli::usage_error& e) {
        write(stderr, "ptio" + who + ": " + e.what() + "\n" + (usage.empty() ? "" : "\n" + usage));
        return 2;
    } catch (const ptio::error& e) {
        std::fflush(stdout);
        write(stderr,
              "ptio: error: " + std::string(ptio::to_string(e.code())) + ": " + e.what() + "\n");
        return 2;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        write(stderr, std::string("ptio: internal error: ") + e.what() + "\n");
        return 3;
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        write(stderr, std::string("ptio: error: io_error: cannot write the output: ") +
                          std::strerror(errno) + "\n");
        return 2;
    }
    return status;
}
