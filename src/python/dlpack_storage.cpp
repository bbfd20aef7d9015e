// dlpack_storage.cpp — the capsule protocol of DLPack's Python binding (legacy form, which
// every torch version's from_dlpack takes).
#include "python/dlpack_storage.hpp"

namespace py = pybind11;

namespace ptio::python {
namespace {

constexpr const char* unused_name = "dltensor";

void free_unused(PyObject* capsule) {
    // A consumer renames the capsule when it takes the export; only an untaken one is ours.
    if (!PyCapsule_IsValid(capsule, unused_name)) return;
    auto* m = static_cast<dlpack::DLManagedTensor*>(PyCapsule_GetPointer(capsule, unused_name));
    dlpack::managed_deleter{}(m);
}

}  // namespace

py::object legacy_capsule(dlpack::legacy_ptr m) {
    PyObject* capsule = PyCapsule_New(m.get(), unused_name, free_unused);
    if (!capsule) throw py::error_already_set();
    (void)m.release();  // the capsule owns it now
    return py::reinterpret_steal<py::object>(capsule);
}

py::object storage_capsule(std::shared_ptr<const void> owner, const std::byte* data, const ptio::device& where,
                           std::uint64_t nbytes) {
    const std::int64_t shape[] = {static_cast<std::int64_t>(nbytes)};
    const std::int64_t strides[] = {1};
    dlpack_view v{std::move(owner), data, where, ptio::dtype::uint8, shape, strides, 0, false};
    return legacy_capsule(to_dlpack_legacy(v));
}

}  // namespace ptio::python
