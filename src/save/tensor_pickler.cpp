// How a tensor node is written: torch's rebuild call with its arguments and the persistent id
// of its storage, as torch.save writes them (see tensor_pickler.hpp).
#include "save/tensor_pickler.hpp"

#include <string>

#include "save/tree_node.hpp"

namespace ptio::detail {

bool is_quantized(dtype t) noexcept {
    return t == dtype::qint8 || t == dtype::quint8 || t == dtype::qint32 || t == dtype::quint4x2 ||
           t == dtype::quint2x4;
}


void tensor_pickler::tensor(const tree_node& n) {
    ++count;
    if (is_quantized(n.elem))
        invalid_tree("save: quantized tensors (" + std::string(name(n.elem)) +
                     ") need their quantizer, which ptio does not write");
    if (n.storage_only && n.storage && !n.parameter) {  // a storage saved on its own
        storage(n);
        return;
    }
    if (n.parameter) p_.global("torch._utils", "_rebuild_parameter");
    rebuild_function(n);
    rebuild_args(n);
    p_.reduce();
    if (n.parameter) {
        p_.boolean(n.requires_grad);
        p_.global("collections", "OrderedDict");
        p_.empty_tuple();
        p_.reduce();
        p_.tuple_small(3);
        p_.reduce();
    }
}

void tensor_pickler::rebuild_function(const tree_node& n) {
    if (!n.storage)
        p_.global("torch._utils", "_rebuild_meta_tensor_no_storage");
    else
        p_.global("torch._utils", storage_class(n.elem).empty() ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2");
}

void tensor_pickler::rebuild_args(const tree_node& n) {
    if (!n.storage) {
        p_.mark();
        dtype_global(n.elem);
        ints(n.shape);
        ints(n.strides);
        p_.boolean(n.parameter ? false : n.requires_grad);
        p_.tuple_from_mark();
    } else {
        const bool v3 = storage_class(n.elem).empty();
        p_.mark();
        storage(n);
        p_.integer(n.offset);
        ints(n.shape);
        ints(n.strides);
        // A Parameter's inner tensor is saved without grad; the Parameter carries it.
        p_.boolean(n.parameter ? false : n.requires_grad);
        p_.global("collections", "OrderedDict");  // backward hooks: always empty
        p_.empty_tuple();
        p_.reduce();
        if (v3) dtype_global(n.elem);
        if (n.conj || n.neg) {  // torch ≥ 2.0's metadata argument, only when needed
            p_.empty_dict();
            p_.mark();
            if (n.conj) {
                p_.string("conj");
                p_.boolean(true);
            }
            if (n.neg) {
                p_.string("neg");
                p_.boolean(true);
            }
            p_.setitems();
        }
        p_.tuple_from_mark();
    }
}

void tensor_pickler::dtype_global(dtype t) { p_.global("torch", std::string(name(t))); }

void tensor_pickler::storage(const tree_node& n) {
    const auto& s = *n.storage;
    const bool untyped = storage_class(n.elem).empty();
    auto [it, fresh] = slots_.emplace(s.identity, storages.size());
    if (fresh) {
        storages.push_back({n.storage, n.elem, untyped});
    } else if (storages[it->second].elem != n.elem) {
        invalid_tree("save: one storage is viewed as " + std::string(name(storages[it->second].elem)) +
                     " and as " + std::string(name(n.elem)) + "; torch.save refuses that too");
    }
    const auto& slot = storages[it->second];
    const std::size_t elem = untyped ? 1 : element_size(slot.elem);
    if (slot.source->nbytes % elem != 0)
        invalid_tree("save: a " + std::string(name(slot.elem)) + " storage of " +
                     std::to_string(slot.source->nbytes) + " bytes is not a whole number of elements");
    p_.mark();
    p_.string("storage");
    if (untyped)
        p_.global("torch.storage", "UntypedStorage");
    else
        p_.global("torch", std::string(storage_class(slot.elem)));
    p_.string(std::to_string(it->second));
    p_.string(slot.source->location);
    p_.integer(static_cast<std::int64_t>(slot.source->nbytes / elem));
    p_.tuple_from_mark();
    p_.binpersid();
}

void tensor_pickler::ints(const std::vector<std::int64_t>& v) {
    if (v.size() > 3) p_.mark();
    for (auto x : v) p_.integer(x);
    if (v.size() > 3)
        p_.tuple_from_mark();
    else
        p_.tuple_small(v.size());
}

}  // namespace ptio::detail
