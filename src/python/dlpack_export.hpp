// dlpack_export.hpp — ptio.TensorExport: one tensor lent to numpy, cupy, jax or torch through
// Python's DLPack protocol (__dlpack__, __dlpack_device__), with no copy.
//
// An export keeps a shared reference to its checkpoint (the mapping) or loaded (the device
// memory); each __dlpack__ call makes a new capsule that keeps its own, so the bytes live
// until the consumer's tensor is freed, however long after the export and the file are gone.
// A capsule no consumer took frees its export when Python drops it.
//
// Thread-safety: needs the GIL. Failure: make_export throws ptio::error (ptio.Error) for what
// ptio::to_dlpack refuses (a dtype DLPack lacks, a conjugated or negated view, a meta tensor),
// at once rather than at the consumer's call; __dlpack__ raises BufferError for a device or a
// copy it cannot give.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include <ptio/checkpoint.hpp>
#include <ptio/dlpack.hpp>
#include <ptio/load.hpp>

namespace ptio::python {

/// A TensorExport of a tensor of `ck` (a CPU view; read-only unless `ck` is copy-on-write).
[[nodiscard]] pybind11::object make_export(std::shared_ptr<const ptio::checkpoint> ck,
                                           const ptio::tensor& t);
/// A TensorExport of a placed tensor of `lo` (CPU or CUDA); waits for it to be ready.
[[nodiscard]] pybind11::object make_export(std::shared_ptr<const ptio::loaded> lo,
                                           const ptio::device_tensor& dt);

/// A PyCapsule "dltensor_versioned" owning `m`: its destructor calls the deleter unless a
/// consumer renamed the capsule ("used_dltensor_versioned"), taking the tensor over.
[[nodiscard]] pybind11::capsule versioned_capsule(ptio::dlpack::versioned_ptr m);
/// The same for a legacy export: "dltensor", taken over as "used_dltensor".
[[nodiscard]] pybind11::capsule legacy_capsule(ptio::dlpack::legacy_ptr m);

/// Registers ptio._ptio.TensorExport and _dlpack_export(path, name), the test hook that opens
/// a file (copy-on-write) and exports one tensor.
void register_dlpack(pybind11::module_& m);

}  // namespace ptio::python
