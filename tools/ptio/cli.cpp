// tools/ptio/cli.cpp — the command line on CLI11.
#include "cli.hpp"

#include "open_flags.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <memory>
#include <string>

namespace ptio_cli {

namespace {

class help_formatter : public CLI::Formatter {
public:
    explicit help_formatter(const help_text& text)
        : synopsis_(text.synopsis), description_(text.description), footer_(text.footer) {
        if (description_.starts_with('\n')) description_.erase(0, 1);
        column_width(text.column);
    }

    std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
        std::string out = synopsis_ + "\n\n" + description_;
        const CLI::Option* help = app->get_help_ptr();
        std::vector<const CLI::Option*> shown = app->get_options([help](const CLI::Option* o) {
            return o->nonpositional() && !o->get_group().empty() && o != help;
        });
        if (help != nullptr && !help->get_group().empty()) shown.push_back(help);
        if (!shown.empty()) {
            out += "\noptions:\n";
            for (const CLI::Option* o : shown) out += make_option(o, false);
        }
        const auto commands =
            app->get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty(); });
        if (!commands.empty()) {
            out += "\ncommands:\n";
            for (const CLI::App* sub : commands) out += make_subcommand(sub);
        }
        if (!footer_.empty()) out += "\n" + footer_;
        return out;
    }

    std::string make_option_name(const CLI::Option* option, bool positional) const override {
        if (positional) return option->get_name(true, false);
        std::string names;
        for (const std::string& s : option->get_snames())
            names += (names.empty() ? "-" : ", -") + s;
        for (const std::string& l : option->get_lnames())
            names += (names.empty() ? "--" : ", --") + l;
        return names;
    }

private:
    std::string synopsis_;
    std::string description_;
    std::string footer_;
};

}  // namespace

void set_help(CLI::App& app, const help_text& text) {
    app.formatter(std::make_shared<help_formatter>(text));
}

namespace detail {

CLI::App& add_subcommand(CLI::App& ptio, const help_text& text) {
    CLI::App* app = ptio.add_subcommand(std::string(text.name), std::string(text.summary));
    set_help(*app, text);
    app->allow_extras();  // unknown options are reported in ptio's words by reject_unknown_options
    app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group("options");
    app->set_help_flag("-h,--help", "show this help");
    return *app;
}

void add_operands(CLI::App& app, std::vector<std::string>& target) {
    // CLI11 ends a command at "--" once its positionals have their least count, handing the
    // words after it to the root; a least count no command line reaches keeps them here.
    constexpr int unbounded = CLI::detail::expected_max_vector_size;
    app.add_option("OPERANDS", target)->expected(unbounded, unbounded)->group("");
}

}  // namespace detail

void add_flag(CLI::App& app, const std::string& names, bool& target,
              const std::string& description) {
    app.add_flag(names, target, description)->disable_flag_override();
}

void add_value(CLI::App& app, const std::string& names, std::optional<std::string>& target,
               const std::string& value_name, const std::string& description) {
    app.add_option_function<std::string>(
           names, [&target](const std::string& text) { target = text; }, description)
        ->option_text(value_name);
}

void add_values(CLI::App& app, const std::string& names, std::vector<std::string>& target,
                const std::string& value_name, const std::string& description) {
    // One word per occurrence: without allow_extra_args(false) a vector option would also
    // swallow the operands after it.
    app.add_option(names, target, description)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->option_text(value_name);
}

void add_open_flags(CLI::App& app, open_flags& flags) {
    add_flag(app, "--weights-only", flags.weights_only,
             R"(refuse any global outside torch's weights_only allowlist (forbidden_global),
as torch.load(weights_only=True) does)");
}

void reject_unknown_options(const CLI::App& app) {
    for (const std::string& word : app.remaining()) {
        if (word == "--") continue;  // CLI11 keeps the separator among the leftovers
        const std::string shown = word.starts_with("--") ? word.substr(0, word.find('=')) : word;
        throw usage_error("unknown option '" + shown + "'");
    }
}

std::string usage_message(const CLI::ParseError& e, std::span<char* const> args,
                          const CLI::App* chosen) {
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) == nullptr || chosen == nullptr)
        return e.what();
    // CLI11 takes an option's value from the next word whatever it is, so a value can only
    // be missing after the last word.
    if (!args.empty()) {
        const std::string last = args.back();
        const CLI::Option* o = last.starts_with("-") ? chosen->get_option_no_throw(last) : nullptr;
        if (o != nullptr && o->get_items_expected_max() != 0)
            return "option '" + last + "' needs a value";
    }
    // Otherwise a flag was given a value: --json=1.
    for (const std::string_view word : args) {
        const std::size_t eq = word.find('=');
        if (!word.starts_with("--") || eq == std::string_view::npos) continue;
        const std::string name(word.substr(0, eq));
        const CLI::Option* o = chosen->get_option_no_throw(name);
        if (o != nullptr && o->get_items_expected_max() == 0)  // a flag
            return "option '" + name + "' takes no value";
    }
    return e.what();
}

const std::string& single_file(const std::vector<std::string>& operands) {
    if (operands.empty()) throw usage_error("missing FILE");
    if (operands.size() > 1)
        throw usage_error("expected one FILE, got " + std::to_string(operands.size()));
    return operands.front();
}

std::uint64_t number_option(const std::optional<std::string>& text, std::string_view name,
                            std::uint64_t lo, std::uint64_t hi, std::uint64_t fallback) {
    if (!text) return fallback;
    std::uint64_t n = 0;
    const char* first = text->data();
    const char* last = first + text->size();
    const auto [end, ec] = std::from_chars(first, last, n);
    if (text->empty() || ec != std::errc() || end != last || n < lo || n > hi)
        throw usage_error("--" + std::string(name) + " needs a number from " + std::to_string(lo) +
                          " to " + std::to_string(hi) + ", not '" + *text + "'");
    return n;
}

}  // namespace ptio_cli
