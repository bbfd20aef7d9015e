// tree_pickler — a tree as torch.save's data.pkl: a protocol-2 pickle of only the opcodes
// torch's weights_only unpickler accepts, tensors through torch._utils' rebuild functions and
// storages as persistent ids numbered in first-use order.
//
// Ownership: the result holds shared references to the tree's storages, so their bytes can
// be written after the tree itself is gone (borrowed bytes must still outlive the save).
// Thread-safety: pickling only reads the tree. Failure: ptio::error — invalid_argument for a
// tree that cannot be saved (a cycle, more than 1000 levels, a quantized tensor, one storage
// viewed with two dtypes, a storage not a whole number of elements), unsafe_global for an
// object whose global is outside the allowlist (save.hpp says which), listing every one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ptio/dtype.hpp"
#include "ptio/tree.hpp"

namespace ptio::detail {

struct save_storage;

/// One storage the pickle refers to, as data/<its index>.
struct storage_slot {
    std::shared_ptr<const save_storage> source;
    dtype elem;    // the dtype every tensor viewing it has
    bool untyped;  // persisted as UntypedStorage (v3 dtypes)
};

struct pickled_tree {
    std::vector<std::byte> pkl;          // data.pkl
    std::vector<storage_slot> storages;  // in first-use order
    std::size_t tensors = 0;
    std::vector<std::string> dropped;  // save_stats::dropped
};

/// Which objects may be written: save_options' allow_globals and drop_objects.
struct global_policy {
    std::vector<std::string> allow;  // "module.name" beyond the default allowlist
    bool drop = false;               // write refused objects as None instead of throwing
};

[[nodiscard]] pickled_tree pickle_tree(const tree& root, const global_policy& policy = {});

}  // namespace ptio::detail
