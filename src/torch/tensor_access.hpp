// torch/tensor_access — how the torch layer makes tensors and views, complete, at once.
//
// ptio::tensor and ptio::tensor_view have no public constructors and no mutators: their
// fields are set here, while a checkpoint opens, before any value hands them out (both
// classes declare this one their friend). The storage a view looks into is reached through
// storage_of (torch/storage.hpp). Pure functions of their arguments: thread-safe; they
// throw only std::bad_alloc (the shape is copied). A tensor keeps a pointer to its location
// text, which must outlive it (a storage's location(), meta_location(), or a text the
// checkpoint keeps: rebuilder::location_text).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "ptio/tensor.hpp"

namespace ptio::detail {

/// What a rebuild call says about a tensor besides its geometry.
struct tensor_flags {
    bool requires_grad = false;
    bool conj = false, neg = false;  ///< torch ≥ 2.0's lazy conjugate and negation
    bool numpy = false;              ///< pickled as a numpy array or scalar
    bool storage = false;            ///< a storage saved on its own, seen as a 1-D tensor
};

class tensor_access {
public:
    /// A view of `storage` (nullptr: a tensor without data); the caller has checked that
    /// every element it reaches lies inside the storage.
    [[nodiscard]] static tensor_view make_view(const storage* storage, dtype type,
                                               std::span<const std::int64_t> shape,
                                               std::span<const std::int64_t> strides,
                                               std::int64_t storage_offset) {
        return {storage, type, shape, strides, storage_offset};
    }
    /// The tensor keeps `location` by address, so a temporary would dangle: refused.
    static tensor make(tensor_view, std::string&&, tensor_flags = {}) = delete;
    [[nodiscard]] static tensor make(tensor_view view, const std::string& location, tensor_flags flags = {}) {
        tensor t(std::move(view), location);
        t.set(tensor::requires_grad_bit, flags.requires_grad);
        t.set(tensor::conj_bit, flags.conj);
        t.set(tensor::neg_bit, flags.neg);
        t.set(tensor::numpy_bit, flags.numpy);
        t.set(tensor::storage_bit, flags.storage);
        return t;
    }
    /// `t` as an nn.Parameter wrapping it (torch._utils._rebuild_parameter) would be.
    [[nodiscard]] static tensor parameter(const tensor& t, bool requires_grad) {
        tensor p = t;
        p.set(tensor::parameter_bit, true);
        p.set(tensor::requires_grad_bit, requires_grad);
        return p;
    }
    [[nodiscard]] static const storage* storage_of(const tensor_view& v) noexcept { return v.storage_; }
    /// "meta", for tensors without a storage.
    [[nodiscard]] static const std::string& meta_location() {
        static const std::string meta = "meta";
        return meta;
    }
};

}  // namespace ptio::detail
