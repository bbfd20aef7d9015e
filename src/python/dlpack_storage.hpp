// dlpack_storage.hpp — a CUDA storage of a ptio::loaded as a DLPack capsule torch can take.
//
// The capsule is a one-dimensional uint8 tensor over the whole storage (torch.from_dlpack makes
// it a storage; tensors are then set_ onto it with their own geometry). It holds a shared
// reference to the loaded, released by the consumer's deleter, so the device memory lives as
// long as the storage torch made of it. Needs the GIL. Failure: ptio::error.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include <ptio/load.hpp>

namespace ptio::python {

[[nodiscard]] pybind11::object cuda_storage_capsule(const std::shared_ptr<const ptio::loaded>& owner,
                                                    const ptio::device_tensor& d);

}  // namespace ptio::python
