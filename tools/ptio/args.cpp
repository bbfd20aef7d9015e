// tools/ptio/args.cpp — GNU-style option parsing, small enough to read in one sitting.
#include <algorithm>
#include <string>

#include "command.hpp"

namespace ptio_cli {

bool parsed_args::has(std::string_view name) const {
    return std::any_of(options.begin(), options.end(),
                       [&](const auto& option) { return option.first == name; });
}

std::optional<std::string> parsed_args::value(std::string_view name) const {
    for (auto it = options.rbegin(); it != options.rend(); ++it)
        if (it->first == name) return it->second;
    return std::nullopt;
}

namespace {

const option_spec* find_long(std::span<const option_spec> specs, std::string_view name) {
    for (const auto& spec : specs)
        if (spec.long_name == name) return &spec;
    return nullptr;
}

const option_spec* find_short(std::span<const option_spec> specs, char name) {
    for (const auto& spec : specs)
        if (spec.short_name != '\0' && spec.short_name == name) return &spec;
    return nullptr;
}

}  // namespace

parsed_args parse_args(std::span<char* const> args, std::span<const option_spec> specs) {
    parsed_args out;
    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view word = args[i];
        if (options_done || word.size() < 2 || word[0] != '-') {
            out.positional.emplace_back(word);
            continue;
        }
        if (word == "--") {
            options_done = true;
            continue;
        }
        if (word == "-h" || word == "--help") {
            out.help = true;
            continue;
        }
        const option_spec* spec = nullptr;
        std::optional<std::string> inline_value;
        std::string shown;  // the option as the user wrote it, for messages
        if (word.starts_with("--")) {
            std::string_view name = word.substr(2);
            if (const auto eq = name.find('='); eq != std::string_view::npos) {
                inline_value = std::string(name.substr(eq + 1));
                name = name.substr(0, eq);
            }
            spec = find_long(specs, name);
            shown = "--" + std::string(name);
        } else {
            spec = find_short(specs, word[1]);
            shown = std::string(word.substr(0, 2));
            if (word.size() > 2) {
                if (spec == nullptr || !spec->takes_value)
                    throw usage_error("unknown option '" + std::string(word) + "'");
                inline_value = std::string(word.substr(2));
            }
        }
        if (spec == nullptr) throw usage_error("unknown option '" + shown + "'");
        if (!spec->takes_value) {
            if (inline_value) throw usage_error("option '" + shown + "' takes no value");
            out.options.emplace_back(std::string(spec->long_name), std::string());
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= args.size()) throw usage_error("option '" + shown + "' needs a value");
            inline_value = std::string(args[++i]);
        }
        out.options.emplace_back(std::string(spec->long_name), std::move(*inline_value));
    }
    return out;
}

const std::string& single_file(const parsed_args& args) {
    if (args.positional.empty()) throw usage_error("missing FILE");
    if (args.positional.size() > 1)
        throw usage_error("expected one FILE, got " + std::to_string(args.positional.size()));
    return args.positional.front();
}

}  // namespace ptio_cli
