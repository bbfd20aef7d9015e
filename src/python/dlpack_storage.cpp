// dlpack_storage.cpp — a whole storage as a legacy DLPack capsule ("dltensor"), which every
// torch version's from_dlpack takes.
#include "python/dlpack_storage.hpp"

#include "python/dlpack_export.hpp"

namespace py = pybind11;

namespace ptio::python {

py::object storage_capsule(std::shared_ptr<const void> owner, const std::byte* data, const ptio::device& where,
                           std::uint64_t nbytes) {
    const std::int64_t shape[] = {static_cast<std::int64_t>(nbytes)};
    const std::int64_t strides[] = {1};
    dlpack_view v{std::move(owner), data, where, ptio::dtype::uint8, shape, strides, 0, false};
    return legacy_capsule(to_dlpack_legacy(v));
}

}  // namespace ptio::python
