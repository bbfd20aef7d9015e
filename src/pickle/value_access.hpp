// pickle/value_access — how ptio's own code makes values and reaches the nodes behind them.
//
// ptio::value's public surface only reads; these are the constructors and the node pointer
// the unpickler, the torch layer and the checkpoint need (value declares this class its
// friend). A value made here borrows what it points at: the node or tensor must outlive it
// (both live in a checkpoint's stores). Pure functions, thread-safe, never throw.
#pragma once

#include <cstdint>

#include "ptio/value.hpp"

namespace ptio::detail {

struct node;

class value_access {
public:
    [[nodiscard]] static value make_bool(bool b) noexcept {
        value v;
        v.kind_ = kind::boolean;
        v.b_ = b;
        return v;
    }
    [[nodiscard]] static value make_int(std::int64_t i) noexcept {
        value v;
        v.kind_ = kind::integer;
        v.i_ = i;
        return v;
    }
    [[nodiscard]] static value make_float(double f) noexcept {
        value v;
        v.kind_ = kind::floating;
        v.f_ = f;
        return v;
    }
    /// A value of kind `k` (string, bytes, big_integer, a container or an object) over `n`.
    [[nodiscard]] static value make_node(kind k, const node* n) noexcept {
        value v;
        v.kind_ = k;
        v.n_ = n;
        return v;
    }
    [[nodiscard]] static value make_tensor(const tensor* t) noexcept {
        value v;
        v.kind_ = kind::tensor;
        v.t_ = t;
        return v;
    }
    /// The node behind a value, or nullptr for inline scalars and tensors.
    [[nodiscard]] static const node* node_of(const value& v) noexcept {
        return v.holds_node() ? v.n_ : nullptr;
    }
};

/// The node behind a value, or nullptr for inline scalars and tensors.
[[nodiscard]] inline const node* node_of(const value& v) noexcept { return value_access::node_of(v); }

}  // namespace ptio::detail
