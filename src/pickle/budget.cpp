// The tree's budget in bytes, and the words that say which cap set it and how to raise it.
#include "pickle/budget.hpp"

#include <utility>

#include "core/checked.hpp"

namespace ptio::detail::pickle {

arena_budget budget_for(const limits& caps, std::string file, std::uint64_t pickle_file_bytes) {
    arena_budget b;
    b.file = std::move(file);
    b.max_nodes = caps.max_nodes;
    std::uint64_t relative = UINT64_MAX;
    if (caps.metadata_per_pickle_byte != 0 &&
        (mul_overflows(pickle_file_bytes, caps.metadata_per_pickle_byte, relative) ||
         add_overflows(relative, caps.metadata_floor_bytes, relative)))
        relative = UINT64_MAX;
    if (relative < caps.max_metadata_bytes) {
        b.max_bytes = relative;
        b.bytes_cap = std::to_string(relative) + " bytes (" +
                      std::to_string(caps.metadata_floor_bytes) + " + " +
                      std::to_string(caps.metadata_per_pickle_byte) + " per byte of the " +
                      std::to_string(pickle_file_bytes) +
                      " its pickles take in the file; raise ptio::limits::metadata_per_pickle_byte "
                      "for a file you trust)";
    } else {
        b.max_bytes = caps.max_metadata_bytes;
        b.bytes_cap = std::to_string(caps.max_metadata_bytes) +
                      " bytes (raise ptio::limits::max_metadata_bytes for a file you trust)";
    }
    return b;
}

}  // namespace ptio::detail::pickle
