// tree::tensor(const device_tensor&) (tree.hpp): a placed tensor as a tree node whose storage
// is read back from its device when saving. It lives with staging, not with save, so that the
// saver sees only a storage_reader and never a staging type.
#include <memory>

#include "ptio/load.hpp"
#include "ptio/tree.hpp"
#include "save/tree_node.hpp"
#include "torch/storage.hpp"

namespace ptio {

tree tree::tensor(const device_tensor& src) {
    tree t = tensor(src.source());
    auto& n = *t.node_;
    if (src.device().is_meta()) {
        n.storage.reset();
        return t;
    }
    auto ss = std::make_shared<detail::save_storage>();
    // Placed tensors share device memory exactly when they share a storage of the file; the
    // file's storage is the identity (empty storages may share one device address).
    const detail::storage* of_file = detail::storage_of(src.source().view());
    ss->identity = of_file != nullptr ? static_cast<const void*>(of_file) : src.storage_data();
    ss->nbytes = src.storage_nbytes();
    ss->location = src.device().str();
    // The device_tensor (and so its loaded) outlives the save, as tree.hpp asks of callers.
    ss->read = [&src](std::span<std::byte> out) { src.copy_storage_to_host(out); };
    n.storage = std::move(ss);
    return t;
}

}  // namespace ptio
