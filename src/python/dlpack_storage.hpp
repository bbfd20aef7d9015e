// dlpack_storage.hpp — a whole storage as the PyCapsule torch.from_dlpack takes.
//
// storage_capsule exports a whole storage as a one-dimensional uint8 tensor (torch makes a
// storage of it; tensors are then set_ onto it with their own geometry). It holds a shared reference to the owner, released by the deleter, so the
// mapping or device memory lives as long as the storage torch made of it. Needs the GIL.
// Failure: ptio::error from the export; a Python error if the capsule cannot be made.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>

#include <ptio/device.hpp>
#include <ptio/dlpack.hpp>

namespace ptio::python {

[[nodiscard]] pybind11::object storage_capsule(std::shared_ptr<const void> owner, const std::byte* data,
                                               const ptio::device& where, std::uint64_t nbytes);

}  // namespace ptio::python
