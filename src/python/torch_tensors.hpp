// torch_tensors.hpp — torch tensors (and numpy arrays) over a loaded checkpoint's placements.
//
// torch_tensors builds, for each ptio::tensor of a ptio::loaded, the Python object torch.load
// would return: a torch.Tensor (or nn.Parameter, with requires_grad and the conj/neg bits)
// with the file's dtype, shape, strides and storage offset, over one torch storage per storage
// of the file, so tensors that share a storage in the file share one storage in torch. CPU
// storages are the loaded's bytes lent through a _HostBuffer (no copy); CUDA storages are the
// loaded's device memory lent through DLPack; meta tensors have no storage. numpy values come
// back as numpy arrays (scalars for 0-d ones), owning a copy of their pickled bytes as numpy's
// own unpickling gives.
//
// Ownership: every storage holds a shared reference to the loaded (or checkpoint), which lives
// until the last tensor over it is freed. Thread-safety: one builder per conversion, used with the GIL held.
// Failure: ptio::error for a dtype this torch lacks (float8 on torch 1.13, quantized tensors);
// Python errors from torch propagate as they are.
#pragma once

#include <pybind11/pybind11.h>

#include <map>
#include <memory>
#include <span>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <ptio/load.hpp>

namespace ptio::python {

/// Where a tensor's storage is: its device and bytes (host or device addresses).
struct placement {
    ptio::device device;
    const std::byte* storage = nullptr;
    std::uint64_t nbytes = 0;
};

class torch_tensors {
public:
    /// Tensors of a load: each where the load placed it. `writable`: CPU storages are lent
    /// writable (copy-on-write mappings, owned copies).
    torch_tensors(std::shared_ptr<const ptio::loaded> owner, bool writable);
    /// Tensors of an open checkpoint, all on the CPU over its bytes (no staging at all):
    /// what a load to "cpu" of a copy-on-write mapping or of bytes ptio owns gives.
    /// `whole_tree`: the caller builds every tensor (a load), so counting each storage's
    /// tensors up front pays; false for one tensor at a time (ptio.open), where that count
    /// would list every tensor and open every shard of a sharded checkpoint.
    torch_tensors(std::shared_ptr<const ptio::checkpoint> owner, bool writable, bool whole_tree = true);

    /// The Python object for a tensor of the owner's checkpoint: the same object each time it
    /// is asked for the same tensor.
    [[nodiscard]] pybind11::object get(const ptio::tensor& t);

private:
    [[nodiscard]] placement place(const ptio::tensor& t) const;
    [[nodiscard]] pybind11::object make_torch(const ptio::tensor& t);
    [[nodiscard]] pybind11::object make_numpy(const ptio::tensor& t);
    [[nodiscard]] pybind11::object storage(const placement& p);
    [[nodiscard]] pybind11::object prototype(ptio::dtype type, const ptio::device& where);
    // True when `t` is its storage's only tensor and covers all of it, contiguously.
    [[nodiscard]] bool alone(const ptio::tensor& t, const placement& p);

    std::shared_ptr<const void> owner_;
    const ptio::loaded* loaded_ = nullptr;       // one of these two
    const ptio::checkpoint* checkpoint_ = nullptr;
    bool writable_;
    bool whole_tree_ = true;
    std::unordered_map<const ptio::tensor*, pybind11::object> tensors_;
    std::map<std::tuple<int, int, const std::byte*>, pybind11::object> storages_;
    std::map<std::tuple<int, int, int>, pybind11::object> prototypes_;
    std::unordered_map<const std::byte*, std::size_t> users_;  // tensors per storage
};

/// A Python tuple of ints: a shape or strides as torch and numpy take them.
[[nodiscard]] pybind11::tuple int_tuple(std::span<const std::int64_t> v);

/// torch's dtype object for a ptio dtype; ptio::error when this torch has none.
[[nodiscard]] pybind11::object torch_dtype(ptio::dtype type);

}  // namespace ptio::python
