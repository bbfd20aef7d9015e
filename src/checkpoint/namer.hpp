// namer — names every tensor of a freshly unpickled tree by its tree path (dict keys, list
// and tuple indices, an object's "__args__", state, items and entries), depth-first in
// container order, which is the pickle's order.
//
// It runs once per pickle at open, while the tree may still be changed: a storage saved on
// its own becomes a 1-D tensor in place, and a numpy array becomes the tensor of its
// elements. The tensor_lister it owns keeps the path, stops at cycles and holds the budget.
// Failure: throws errc::limit_exceeded where the lister's depth cap or budget is passed.
// Not thread-safe: one namer per walk.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "checkpoint/tensor_lister.hpp"
#include "ptio/value.hpp"

namespace ptio::detail {

class arena;
namespace torch {
class rebuilder;
}

class namer {
public:
    /// `rb` is the rebuilder that made the tree (it makes the tensors of lone storages);
    /// `nodes` the arena that owns it (replacing a slot changes its container).
    namer(torch::rebuilder& rb, arena& nodes, tensor_lister list)
        : rb_(rb), nodes_(nodes), list_(std::move(list)) {}

    /// Walks `slot` as if it were reached by `path` (the constants: CONSTANTS.c0, …).
    void walk_under(const std::vector<std::string>& path, value& slot);
    /// Walks `slot`, `depth` levels below the root.
    void walk(value& slot, std::size_t depth);

private:
    void walk_items(std::span<value> items, std::size_t depth);
    void walk_entries(std::span<value::entry> entries, std::size_t depth);

    torch::rebuilder& rb_;
    arena& nodes_;
    tensor_lister list_;
};

}  // namespace ptio::detail
