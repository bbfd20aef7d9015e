// dlpack_storage.cpp — a CUDA storage as a legacy DLPack capsule ("dltensor"), which every
// torch version's from_dlpack takes. The capsule is ptio::to_dlpack_legacy's export of the
// whole storage as one uint8 dimension (python/dlpack_export.hpp makes the capsule).
#include "python/dlpack_storage.hpp"

#include <cstdint>

#include <ptio/dlpack.hpp>

#include "python/dlpack_export.hpp"

namespace py = pybind11;

namespace ptio::python {

py::object cuda_storage_capsule(const std::shared_ptr<const ptio::loaded>& owner, const ptio::device_tensor& d) {
    {
        py::gil_scoped_release unlocked;
        d.wait();  // torch may read the memory on any stream as soon as it has the capsule
    }
    const std::int64_t size[] = {static_cast<std::int64_t>(d.storage_nbytes())};
    const std::int64_t stride[] = {1};
    const ptio::dlpack_view whole{owner, d.storage_data(), d.device(), ptio::dtype::uint8,
                                  size,  stride,           0,          false};
    return legacy_capsule(ptio::to_dlpack_legacy(whole));
}

}  // namespace ptio::python
