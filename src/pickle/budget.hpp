// pickle/budget — what an unpickled tree may cost, from ptio::limits and the bytes its
// pickles take in the file.
//
// The tree's memory (nodes, strings, slots, a deflated pickle's inflated copy) is capped by
// the smaller of limits::max_metadata_bytes and metadata_floor_bytes plus
// metadata_per_pickle_byte per byte the pickles take in the file, so a small file cannot
// cost much more than its size times that ratio, however well it deflates. Pure: safe from
// any thread; the arena that holds the result is not.
#pragma once

#include <cstdint>
#include <string>

#include "pickle/node.hpp"
#include "ptio/limits.hpp"

namespace ptio::detail::pickle {

/// The budget of a tree whose pickles take `pickle_file_bytes` bytes of `file` (all of them
/// together: a checkpoint with data.pkl and constants.pkl adds both).
[[nodiscard]] arena_budget budget_for(const limits& caps, std::string file,
                                      std::uint64_t pickle_file_bytes);

}  // namespace ptio::detail::pickle
