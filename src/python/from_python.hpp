// from_python.hpp — Python objects as the ptio::tree that ptio::save writes (ptio.save).
//
// from_python walks an object the way torch.save's pickler does and builds: None, bool, int
// (any size), float, complex, str, bytes, bytearray, list, tuple, set, frozenset, dict,
// OrderedDict, Counter and defaultdict (no factory) with their attributes (a state_dict's
// `_metadata`), torch.Size, torch.dtype, torch.device, torch.layout, torch.memory_format,
// torch.Tensor and nn.Parameter, numpy arrays, scalars and dtypes (as numpy pickles them:
// objects that ptio::save writes only when their globals are allowed), and ptio.Opaque
// (its global, arguments, items and state, the same allow-list decision). An object reached
// twice is one node of the tree, so torch.load gives it back shared.
//
// Tensors are not copied: a CPU tensor's storage becomes a storage_ref borrowing the torch
// storage's bytes, one per torch storage, so tensors that share a storage share it in the
// file too, each with its own dtype, shape, strides and offset. A CUDA storage is copied to
// the host once. `held()` keeps every Python object whose bytes the tree borrows (and every
// object the walk memoized, so its id stays its own): keep it until the save returns.
//
// Thread-safety: one converter per save, used with the GIL held. Failure: TypeError naming
// the type and where it is in the object (obj["layers"][3]); ptio::error (invalid_argument)
// for an object that contains itself, which a tree cannot hold; Python errors propagate.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <ptio/tree.hpp>

namespace ptio::python {

class from_python {
public:
    from_python();

    [[nodiscard]] ptio::tree operator()(pybind11::handle root) { return convert(root); }

    /// The Python objects the tree borrows bytes from or was built from.
    [[nodiscard]] const pybind11::list& held() const noexcept { return held_; }

private:
    // One step of the path from the root to the object being converted, rendered only when a
    // message needs it.
    struct step {
        pybind11::handle key;  // a dict key (with attr: the key itself), or null
        std::size_t index = 0;  // an item; with attr, SIZE_MAX for none
        const char* attr = nullptr;  // an attribute (".state"), or null
    };

    [[nodiscard]] ptio::tree convert(pybind11::handle o);
    [[nodiscard]] ptio::tree fresh(pybind11::handle o);
    [[nodiscard]] ptio::tree torch_value(pybind11::handle o, bool& done);
    [[nodiscard]] ptio::tree tensor(pybind11::handle t);
    [[nodiscard]] ptio::storage_ref storage(pybind11::handle t);
    [[nodiscard]] ptio::tree dict(pybind11::handle o, ptio::tree out);
    [[nodiscard]] ptio::tree opaque(pybind11::handle o);
    [[nodiscard]] ptio::tree numpy_value(pybind11::handle o);
    [[nodiscard]] ptio::tree child(pybind11::handle o, step s);
    void fill_items(ptio::tree& out, pybind11::handle iterable);
    [[nodiscard]] std::string path() const;
    [[noreturn]] void unsupported(pybind11::handle o, const std::string& why = {}) const;

    pybind11::list held_;
    std::unordered_map<PyObject*, ptio::tree> memo_;
    std::unordered_set<PyObject*> active_;
    std::unordered_map<PyObject*, std::vector<ptio::tree>> pending_;  // back references into active_
    std::vector<step> path_;
    std::unordered_map<std::uintptr_t, ptio::storage_ref> storages_;
};

}  // namespace ptio::python
