// tools/ptio/main.cpp — `ptio <command> …`: finds the command, parses its options, runs it,
// and turns failures into messages and exit statuses:
//   0 success, 1 the command found problems (verify), 2 bad usage or a ptio::error,
//   3 anything unexpected.
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <string_view>

#include "command.hpp"
#include "ptio/error.hpp"
#include "ptio/version.hpp"

namespace {

using ptio_cli::command;

constexpr std::string_view intro = R"(usage: ptio <command> [options] FILE
       ptio --version

Read PyTorch checkpoints (torch.save files) without Python and without running any
code they contain.

commands:
)";

constexpr std::string_view outro = R"(
Run 'ptio <command> --help' for a command's options.

exit status: 0 success, 1 problems found (verify), 2 bad usage or an unreadable file,
3 an internal error.
)";

std::array<const command*, 9> all_commands() {
    return {&ptio_cli::ls_command(), &ptio_cli::show_command(), &ptio_cli::verify_command(),
            &ptio_cli::load_command(), &ptio_cli::bench_command(), &ptio_cli::cp_command(),
            &ptio_cli::devices_command(), &ptio_cli::sample_command(), &ptio_cli::extra_command()};
}

const command* find_command(std::string_view name) {
    for (const command* c : all_commands())
        if (c->name == name) return c;
    return nullptr;
}

std::string main_usage() {
    std::string text(intro);
    for (const command* c : all_commands()) {
        text += "  ";
        text += c->name;
        text.append(10 - c->name.size(), ' ');
        text += c->summary;
        text += '\n';
    }
    text += outro;
    return text;
}

void write(std::FILE* stream, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stream);
}

int run(std::span<char* const> args, const command*& current) {
    if (args.empty()) {
        write(stderr, "ptio: missing command\n\n" + main_usage());
        return 2;
    }
    const std::string_view first = args[0];
    if (first == "-h" || first == "--help" || first == "help") {
        const command* topic = args.size() > 1 ? find_command(args[1]) : nullptr;
        write(stdout, topic != nullptr ? topic->usage : std::string_view(main_usage()));
        return 0;
    }
    if (first == "--version" || first == "-V") {
        write(stdout, std::string("ptio ") + ptio::version_string + "\n");
        return 0;
    }
    current = find_command(first);
    if (current == nullptr) {
        write(stderr, "ptio: unknown command '" + std::string(first) + "'\n\n" + main_usage());
        return 2;
    }
    const ptio_cli::parsed_args parsed = ptio_cli::parse_args(args.subspan(1), current->options);
    if (parsed.help) {
        write(stdout, current->usage);
        return 0;
    }
    return current->run(parsed);
}

}  // namespace

int main(int argc, char** argv) {
    const command* current = nullptr;
    int status = 0;
    try {
        status =
            run(std::span<char* const>(argv + 1, argc > 1 ? static_cast<std::size_t>(argc - 1) : 0),
                current);
    } catch (const ptio_cli::usage_error& e) {
        const std::string name = current != nullptr ? " " + std::string(current->name) : "";
        write(stderr, "ptio" + name + ": " + e.what() + "\n\n" +
                          std::string(current != nullptr ? current->usage : main_usage()));
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
