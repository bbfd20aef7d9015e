// Tensors from torch's rebuild arguments. Every reachable element must lie inside the
// storage the tensor views, checked here when the checkpoint opens (core/geometry does the
// overflow-checked arithmetic), so reading a view later can never leave its storage.
#include "torch/rebuild.hpp"

#include <cstdint>

#include "core/checked.hpp"
#include "core/geometry.hpp"

namespace ptio::detail::torch {

using va = value_access;

std::vector<std::int64_t> rebuilder::int_list(const value& v, const char* what, std::uint64_t at) const {
    if (!v.is(kind::tuple) && !v.is(kind::list))
        fail(errc::bad_tensor, at, std::string("tensor ") + what + " is a " +
                                       std::string(to_string(v.type())) + ", not a tuple");
    const auto items = v.items();
    if (items.size() > ctx_.options.caps.max_dims)
        fail(errc::limit_exceeded, at, std::string("tensor ") + what + " has " +
                                           std::to_string(items.size()) + " dimensions, over the cap of " +
                                           std::to_string(ctx_.options.caps.max_dims));
    std::vector<std::int64_t> out;
    out.reserve(items.size());
    for (const auto& i : items) {
        if (!i.is(kind::integer)) fail(errc::bad_tensor, at, std::string("tensor ") + what + " holds a non-integer");
        out.push_back(i.as_int());
    }
    return out;
}

// Tensors live beside the tree, but the file makes them (REDUCE of a memoized rebuild call is a
// few bytes for each), so they draw on the tree's budget: the tensor, its shape and strides.
void rebuilder::charge_tensor(std::size_t dims) {
    nodes_.charge(sizeof(tensor) + 2 * dims * sizeof(std::int64_t));
}

value rebuilder::tensor_from(const value& ref, std::optional<dtype> explicit_type,
                             const value& offset_v, const value& size_v, const value& stride_v,
                             bool requires_grad, std::uint64_t at, const value* metadata) {
    if (!is_storage_ref(ref))
        fail(errc::bad_tensor, at, "a tensor rebuilt from a " + std::string(to_string(ref.type())) +
                                       ", not from a storage");
    if (!offset_v.is(kind::integer) || offset_v.as_int() < 0)
        fail(errc::bad_tensor, at, "a tensor storage offset that is not a non-negative integer");
    const auto shape = int_list(size_v, "size", at);
    const auto strides = int_list(stride_v, "stride", at);
    // torch ≥ 2.0's metadata dict: {'conj': True} / {'neg': True} for lazy views.
    auto flag = [&](std::string_view key) {
        if (!metadata || !metadata->is(kind::dict)) return false;
        const value* v = metadata->get(key);
        return v && v->is(kind::boolean) && v->as_bool();
    };
    tensor_flags flags;
    flags.requires_grad = requires_grad;
    flags.conj = flag("conj");
    flags.neg = flag("neg");
    return checked_tensor(ref, explicit_type, offset_v.as_int(), shape, strides, at, flags);
}

value rebuilder::tensor_over(const value& ref, std::int64_t offset, std::span<const std::int64_t> shape,
                             std::span<const std::int64_t> strides, std::uint64_t at) {
    if (!is_storage_ref(ref)) fail(errc::bad_tensor, at, "a tensor over something that is not a storage");
    if (offset < 0) fail(errc::bad_tensor, at, "a negative storage offset");
    if (shape.size() > ctx_.options.caps.max_dims)
        fail(errc::limit_exceeded, at, "a tensor of " + std::to_string(shape.size()) +
                                           " dimensions, over the cap of " + std::to_string(ctx_.options.caps.max_dims));
    return checked_tensor(ref, std::nullopt, offset, shape, strides, at);
}

// Every reachable element must lie inside the storage, or inside the storage view the
// reference names.
value rebuilder::checked_tensor(const value& ref, std::optional<dtype> explicit_type, std::int64_t offset_in,
                                std::span<const std::int64_t> shape, std::span<const std::int64_t> strides,
                                std::uint64_t at, tensor_flags flags) {
    storage& s = storage_of_ref(ref);
    const dtype type = explicit_type.value_or(s.type());
    if (explicit_type && element_size(s.type()) == 1)  // an UntypedStorage: learn the width
        s.note_view_type(*explicit_type);
    const std::uint64_t limit_bytes = s.nbytes();
    const geometry::extent e = geometry::view_extent(type, shape, strides, offset_in);
    if (e.problem == geometry::problem::extent_overflow || e.problem == geometry::problem::bytes_overflow)
        throw error(errc::bad_tensor, std::string(ctx_.where.file), std::string(s.record()), at,
                    geometry::describe(e, shape.size(), strides.size()) + " (its storage holds " +
                        std::to_string(limit_bytes) + " bytes)");
    if (e.problem != geometry::problem::none)
        fail(errc::bad_tensor, at, geometry::describe(e, shape.size(), strides.size()));
    if (e.end_byte > limit_bytes)
        throw error(errc::bad_tensor, std::string(ctx_.where.file), std::string(s.record()), at,
                    "the tensor (offset " + std::to_string(offset_in) + ", " + std::to_string(shape.size()) +
                        " dims) reaches byte " + std::to_string(e.end_byte) + " of a storage of " +
                        std::to_string(limit_bytes) + " bytes");
    charge_tensor(shape.size());
    // A storage of the meta device (TorchScript's empty records) holds no data: its views
    // are meta tensors, and its record is never read.
    const storage* data = s.location() == "meta" ? nullptr : &s;
    auto& t = tensors_.emplace_back(
        tensor_access::make(tensor_access::make_view(data, type, shape, strides, offset_in), s.location(), flags));
    return va::make_tensor(&t);
}

value rebuilder::meta_tensor(const value& type_v, const value& size_v, const value& stride_v,
                             bool rg, std::uint64_t at) {
    if (tag_of(type_v) != known::dtype_global) fail(errc::bad_tensor, at, "a meta tensor without a dtype");
    auto shape = int_list(size_v, "size", at);
    auto strides = int_list(stride_v, "stride", at);
    if (shape.size() != strides.size()) fail(errc::bad_tensor, at, "a meta tensor whose sizes and strides differ in rank");
    std::uint64_t numel = 1;
    for (auto d : shape) {
        if (d < 0) fail(errc::bad_tensor, at, "a negative size");
        if (mul_overflows(numel, static_cast<std::uint64_t>(d), numel) ||
            numel > static_cast<std::uint64_t>(INT64_MAX) / 16)
            fail(errc::bad_tensor, at, "the meta tensor's element count overflows");
    }
    tensor_flags flags;
    flags.requires_grad = rg;
    charge_tensor(shape.size());
    auto& t = tensors_.emplace_back(tensor_access::make(
        tensor_access::make_view(nullptr, static_cast<dtype>(node_of(type_v)->aux), shape, strides, 0),
        tensor_access::meta_location(),
        flags));
    return va::make_tensor(&t);
}

value rebuilder::storage_tensor(const value& ref) {
    const storage& s = storage_of_ref(ref);
    const auto n = static_cast<std::int64_t>(s.nbytes() / element_size(s.type()));
    const std::int64_t shape[] = {n}, strides[] = {1};
    charge_tensor(1);
    const storage* data = s.location() == "meta" ? nullptr : &s;
    tensor_flags flags;
    flags.storage = true;
    auto& t = tensors_.emplace_back(
        tensor_access::make(tensor_access::make_view(data, s.type(), shape, strides, 0), s.location(), flags));
    return va::make_tensor(&t);
}

value rebuilder::as_parameter(const value& t, bool requires_grad, std::uint64_t at) {
    if (!t.is(kind::tensor)) fail(errc::bad_tensor, at, "a Parameter wrapping a " + std::string(to_string(t.type())));
    charge_tensor(t.as_tensor().view().shape().size());
    return va::make_tensor(&tensors_.emplace_back(tensor_access::parameter(t.as_tensor(), requires_grad)));
}

}  // namespace ptio::detail::torch
