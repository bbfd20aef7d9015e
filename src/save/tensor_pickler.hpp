// save/tensor_pickler — the tensor half of the tree pickler: how a tensor node is written as
// torch.save writes it (its rebuild call, _rebuild_parameter around a Parameter, a storage
// saved on its own as a bare persistent id), each storage once, in first-use order, with one
// dtype. Used by tree_pickler.cpp, which owns the pickler it writes to. Throws
// invalid_argument (invalid_tree) for what torch could not load back: quantized tensors, one
// storage viewed as two dtypes, a storage that is not a whole number of elements. Not
// thread-safe: one per pickle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "pickle/pickler.hpp"
#include "ptio/dtype.hpp"
#include "save/tree_pickler.hpp"

namespace ptio::detail {

struct tree_node;

/// Quantized dtypes, whose quantizer ptio does not keep (so it does not write them).
[[nodiscard]] bool is_quantized(dtype t) noexcept;

class tensor_pickler {
public:
    explicit tensor_pickler(pickle::pickler& p) noexcept : p_(p) {}

    /// The tensor `n` (kind tensor), counted.
    void tensor(const tree_node& n);
    /// The rebuild function for `n`'s kind of tensor (v2, v3, or a meta tensor's).
    void rebuild_function(const tree_node& n);
    /// That function's argument tuple.
    void rebuild_args(const tree_node& n);

    std::vector<storage_slot> storages;  // in first-use order
    std::size_t count = 0;               // tensors written (a subclass's counts once)

private:
    void storage(const tree_node& n);
    void ints(const std::vector<std::int64_t>& v);
    void dtype_global(dtype t);

    pickle::pickler& p_;
    std::unordered_map<const void*, std::size_t> slots_;  // storage identity → its slot
};

}  // namespace ptio::detail
