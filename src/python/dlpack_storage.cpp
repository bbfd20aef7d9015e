// dlpack_storage.cpp — a CUDA storage as a legacy DLPack capsule ("dltensor"), which every
// torch version's from_dlpack takes.
#include "python/dlpack_storage.hpp"

#include <ptio/error.hpp>

namespace py = pybind11;

namespace ptio::python {

py::object cuda_storage_capsule(const std::shared_ptr<const ptio::loaded>& owner, const ptio::device_tensor& d) {
    (void)owner;
    (void)d;
    throw ptio::error(errc::invalid_argument, "CUDA storages through Python: not built yet");
}

}  // namespace ptio::python
