// The tree builder's tensors and the storages they view: caller bytes (borrowed or owned),
// a checkpoint's storage, or no data (meta). A device tensor's storage is built beside the
// staging code (staging/tree_tensor.cpp), which alone knows how to read it back.
#include "ptio/tree.hpp"

#include "core/geometry.hpp"
#include "ptio/tensor.hpp"
#include "save/tree_node.hpp"
#include "torch/storage.hpp"

namespace ptio {
namespace {

using detail::invalid_tree;
using detail::make_node;

void check_view(const detail::tree_node& n, const char* where) {
    for (auto v : n.shape)
        if (v < 0) invalid_tree(std::string(where) + ": negative size");
    if (n.strides.size() != n.shape.size())
        invalid_tree(std::string(where) + ": " + std::to_string(n.strides.size()) + " strides for " +
                     std::to_string(n.shape.size()) + " dimensions");
    for (auto v : n.strides)
        if (v < 0) invalid_tree(std::string(where) + ": negative stride");
    if (n.offset < 0) invalid_tree(std::string(where) + ": negative storage offset");
}

// A storage of the caller's: its own identity, so only tensors made from it share it.
std::shared_ptr<detail::save_storage> caller_storage(std::uint64_t nbytes, std::string location) {
    auto s = std::make_shared<detail::save_storage>();
    s->identity = s.get();
    s->nbytes = nbytes;
    s->location = std::move(location);
    return s;
}

}  // namespace

// --- storage_ref ------------------------------------------------------------------------------

storage_ref storage_ref::borrow(std::span<const std::byte> bytes, std::string location) {
    auto s = caller_storage(bytes.size(), std::move(location));
    s->borrowed = bytes;
    return storage_ref(std::move(s));
}

storage_ref storage_ref::own(std::vector<std::byte> bytes, std::string location) {
    auto s = caller_storage(bytes.size(), std::move(location));
    s->owned = std::move(bytes);
    s->borrowed = s->owned;
    return storage_ref(std::move(s));
}

std::uint64_t storage_ref::nbytes() const noexcept { return s_ ? s_->nbytes : 0; }
const std::string& storage_ref::location() const noexcept {
    static const std::string none;
    return s_ ? s_->location : none;
}

// --- tensors ----------------------------------------------------------------------------------

tree tree::tensor(dtype type, shape_type shape, std::span<const std::byte> bytes) {
    auto strides = detail::geometry::contiguous_strides(shape);
    return tensor(storage_ref::borrow(bytes), type, std::move(shape), std::move(strides), 0);
}

tree tree::tensor(const storage_ref& storage, dtype type, shape_type shape, shape_type strides,
                  std::int64_t storage_offset) {
    const auto& source = detail::tree_access::storage(storage);
    if (!source) invalid_tree("tree::tensor: an empty storage_ref");
    tree t(make_node(kind::tensor));
    auto& n = *t.node_;
    n.storage = source;
    n.elem = type;
    n.shape = std::move(shape);
    n.strides = strides.empty() && !n.shape.empty() ? detail::geometry::contiguous_strides(n.shape) : std::move(strides);
    n.offset = storage_offset;
    check_view(n, "tree::tensor");
    // The farthest element must lie inside the storage.
    const auto e = detail::geometry::view_extent(type, n.shape, n.strides, n.offset);
    if (e.problem != detail::geometry::problem::none)
        invalid_tree("tree::tensor: " + detail::geometry::describe(e, n.shape.size(), n.strides.size()));
    const std::uint64_t need = e.end_byte;
    if (need > n.storage->nbytes)
        invalid_tree("tree::tensor: the view reaches byte " + std::to_string(need) + " of a storage of " +
                     std::to_string(n.storage->nbytes) + " bytes");
    return t;
}

tree tree::storage(const storage_ref& storage, dtype type) {
    const auto& source = detail::tree_access::storage(storage);
    if (!source) invalid_tree("tree::storage: an empty storage_ref");
    const std::uint64_t size = element_size(type);
    if (size == 0 || source->nbytes % size != 0)
        invalid_tree("tree::storage: " + std::to_string(source->nbytes) + " bytes are not a whole number of " +
                     std::string(name(type)) + " elements");
    tree t = tensor(storage, type, {static_cast<std::int64_t>(source->nbytes / size)}, {1}, 0);
    t.node_->storage_only = true;
    return t;
}

tree tree::tensor(const ptio::tensor& src) {
    const tensor_view& v = src.view();
    tree t(make_node(kind::tensor));
    auto& n = *t.node_;
    n.elem = v.dtype();
    n.shape.assign(v.shape().begin(), v.shape().end());
    n.strides.assign(v.strides().begin(), v.strides().end());
    n.offset = v.storage_offset();
    n.requires_grad = src.requires_grad();
    n.parameter = src.is_parameter();
    n.conj = src.is_conj();
    n.neg = src.is_neg();
    n.storage_only = src.is_storage();
    if (const detail::storage* s = detail::storage_of(v)) {
        auto ss = std::make_shared<detail::save_storage>();
        ss->identity = s;
        ss->nbytes = s->nbytes();
        ss->location = s->location();
        ss->checkpoint = s;
        n.storage = std::move(ss);
    }
    return t;
}

tree tree::meta_tensor(dtype type, shape_type shape, shape_type strides) {
    tree t(make_node(kind::tensor));
    auto& n = *t.node_;
    n.elem = type;
    n.strides = strides.empty() ? detail::geometry::contiguous_strides(shape) : std::move(strides);
    n.shape = std::move(shape);
    check_view(n, "tree::meta_tensor");
    return t;
}

}  // namespace ptio
