// tools/ptio/globals_report.cpp — the warnings and the JSON list of a file's globals.
#include "globals_report.hpp"

#include <cstdio>
#include <string>

namespace ptio_cli {

void warn_globals(std::span<const ptio::global_ref> globals) {
    std::fflush(stdout);
    for (const auto& g : globals) {
        if (g.judged == ptio::global_ref::verdict::allowed) continue;
        const std::string line = "ptio: warning: " + g.file + ": " + g.record + ": at offset " +
                                 std::to_string(g.offset) + ": " + g.qualified() +
                                 " is not in torch's weights_only allowlist (" +
                                 std::string(ptio::to_string(g.judged)) +
                                 "): torch.load would import and call it\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
}

json globals_json(std::span<const ptio::global_ref> globals, bool with_file) {
    json rows = json::array();
    for (const auto& g : globals) {
        json row = json_object({{"module", g.module},
                                {"name", g.name},
                                {"record", g.record},
                                {"offset", g.offset},
                                {"verdict", ptio::to_string(g.judged)},
                                {"weights_only", g.weights_only}});
        if (with_file) row["file"] = g.file;
        rows.push_back(std::move(row));
    }
    return rows;
}

bool all_allowed(std::span<const ptio::global_ref> globals) noexcept {
    for (const auto& g : globals)
        if (g.judged != ptio::global_ref::verdict::allowed) return false;
    return true;
}

}  // namespace ptio_cli
