// torch_tensors.cpp — building torch.Tensors the way torch's _rebuild_tensor does (an empty
// tensor of the dtype, then set_(storage, offset, size, stride)), from C++ so that a
// 2,400-tensor state_dict costs a few microseconds per tensor rather than an unpickling.
#include "python/torch_tensors.hpp"

#include <pybind11/numpy.h>

#include <string>
#include <vector>

#include "python/buffers.hpp"
#include "python/dlpack_storage.hpp"

namespace py = pybind11;

namespace ptio::python {
namespace {

// torch's functions, looked up once. Leaked on purpose: Python objects must not be destroyed
// after the interpreter has finalized, which a static's destructor would do.
struct torch_api {
    py::module_ torch = py::module_::import("torch");
    py::object uint8 = torch.attr("uint8");
    py::object frombuffer = torch.attr("frombuffer");
    py::object empty = torch.attr("empty");
    py::object empty_strided = torch.attr("empty_strided");
    py::object parameter = torch.attr("nn").attr("Parameter");
    py::object set_conj = py::getattr(torch.attr("_C"), "_set_conj", py::none());
    py::object set_neg = py::getattr(torch.attr("_C"), "_set_neg", py::none());
    py::object from_dlpack = py::module_::import("torch.utils.dlpack").attr("from_dlpack");
    // torch ≥ 2.0: Tensor.untyped_storage(); 1.13: Tensor._storage() (its storage() wraps that
    // in a TypedStorage made in Python, 25 µs a tensor).
    const char* untyped_name =
        py::hasattr(torch.attr("Tensor"), "untyped_storage") ? "untyped_storage" : "_storage";
    std::map<int, py::object> dtypes;

    [[nodiscard]] py::object untyped(const py::object& base) const { return base.attr(untyped_name)(); }
};

torch_api& api() {
    static torch_api* a = new torch_api();  // NOLINT: see above
    return *a;
}

py::tuple int_tuple(std::span<const std::int64_t> v) {
    py::tuple t(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) t[i] = py::int_(v[i]);
    return t;
}

std::string device_text(const ptio::device& d) { return d.str(); }

// Column-major dense strides (numpy's order="F"), as numpy pickles a Fortran array.
bool fortran_ordered(const ptio::tensor_view& v) {
    std::int64_t expected = 1;
    for (std::size_t i = 0; i < v.shape().size(); ++i) {
        if (v.shape()[i] != 1 && v.strides()[i] != expected) return false;
        expected *= v.shape()[i];
    }
    return true;
}

}  // namespace

py::object torch_dtype(ptio::dtype type) {
    auto& a = api();
    auto it = a.dtypes.find(static_cast<int>(type));
    if (it != a.dtypes.end()) return it->second;
    py::object t = py::getattr(a.torch, std::string(name(type)).c_str(), py::none());
    if (t.is_none() || !py::isinstance(t, a.torch.attr("dtype")))
        throw ptio::error(errc::invalid_argument,
                          "this torch (" + py::str(a.torch.attr("__version__")).cast<std::string>() +
                              ") has no dtype " + std::string(name(type)));
    a.dtypes.emplace(static_cast<int>(type), t);
    return t;
}

torch_tensors::torch_tensors(std::shared_ptr<const ptio::loaded> owner, bool writable)
    : owner_(std::move(owner)), writable_(writable) {}

py::object torch_tensors::get(const ptio::tensor& t) {
    if (auto it = tensors_.find(&t); it != tensors_.end()) return it->second;
    py::object out = t.is_numpy() ? make_numpy(t) : make_torch(t);
    tensors_.emplace(&t, out);
    return out;
}

py::object torch_tensors::prototype(ptio::dtype type, const ptio::device& where) {
    const auto key = std::tuple(static_cast<int>(type), static_cast<int>(where.kind), where.ordinal());
    if (auto it = prototypes_.find(key); it != prototypes_.end()) return it->second;
    py::object p = api().empty(py::make_tuple(0), py::arg("dtype") = torch_dtype(type),
                               py::arg("device") = device_text(where));
    prototypes_.emplace(key, p);
    return p;
}

py::object torch_tensors::storage(const ptio::device_tensor& d) {
    auto& a = api();
    const auto key = std::tuple(static_cast<int>(d.device().kind), d.device().ordinal(), d.storage_data());
    const bool shareable = d.storage_nbytes() > 0;
    if (shareable) {
        if (auto it = storages_.find(key); it != storages_.end()) return it->second;
    }
    py::object base;
    if (!shareable) {
        base = a.empty(py::make_tuple(0), py::arg("dtype") = a.uint8,
                       py::arg("device") = device_text(d.device()));
    } else if (d.device().is_cuda()) {
        base = a.from_dlpack(cuda_storage_capsule(owner_, d));
    } else {
        host_buffer b{owner_, const_cast<std::byte*>(d.storage_data()),  // NOLINT: lent to torch,
                      static_cast<std::size_t>(d.storage_nbytes()), writable_};  // writable or not
        base = a.frombuffer(make_host_buffer(std::move(b)), py::arg("dtype") = a.uint8);
    }
    py::object s = a.untyped(base);
    if (shareable) storages_.emplace(key, s);
    return s;
}

py::object torch_tensors::make_torch(const ptio::tensor& t) {
    auto& a = api();
    const ptio::device_tensor& d = owner_->placement(t);
    const auto& v = t.view();
    py::object out;
    if (d.device().is_meta() && v.has_data()) {
        // No bytes, but the file's geometry: a view at its offset into a base that reaches its
        // last element (a meta placement has no storage size of its own).
        std::int64_t elements = v.storage_offset() + 1;
        for (std::size_t i = 0; i < v.shape().size(); ++i) {
            if (v.shape()[i] == 0) elements = 0;
            if (elements) elements += (v.shape()[i] - 1) * v.strides()[i];
        }
        out = a.empty(py::make_tuple(elements), py::arg("dtype") = torch_dtype(t.dtype()),
                      py::arg("device") = "meta")
                  .attr("as_strided")(int_tuple(v.shape()), int_tuple(v.strides()), py::int_(v.storage_offset()));
    } else if (d.device().is_meta() || !v.has_data()) {
        out = a.empty_strided(int_tuple(v.shape()), int_tuple(v.strides()),
                              py::arg("dtype") = torch_dtype(t.dtype()),
                              py::arg("device") = d.device().is_meta() ? std::string("meta") : device_text(d.device()));
    } else {
        out = prototype(t.dtype(), d.device()).attr("new")();
        out.attr("set_")(storage(d), py::int_(v.storage_offset()), int_tuple(v.shape()), int_tuple(v.strides()));
    }
    if (t.is_conj() && !a.set_conj.is_none()) a.set_conj(out, true);
    if (t.is_neg() && !a.set_neg.is_none()) a.set_neg(out, true);
    if (t.is_parameter()) return a.parameter(out, py::bool_(t.requires_grad()));
    if (t.requires_grad()) out.attr("requires_grad_")(true);
    return out;
}

py::object torch_tensors::make_numpy(const ptio::tensor& t) {
    // A Fortran-ordered array in the file stays Fortran-ordered, filled from the row-major
    // copy. An empty one is set up as unpickling sets it up (ndarray.__setstate__), which is
    // the only way to its strides: numpy gives a new empty (0, 3) array strides (0, 0), where
    // torch.load's has (12, 4).
    const auto& v = t.view();
    const py::dtype dtype(std::string(name(t.dtype())));
    std::vector<py::ssize_t> shape(v.shape().begin(), v.shape().end());
    py::array rows(dtype, shape);
    if (rows.size() == 0 && v.dim() > 0) {
        const bool fortran = v.dim() >= 2 && !v.is_contiguous() && fortran_ordered(v);
        rows.attr("__setstate__")(py::make_tuple(1, int_tuple(v.shape()), dtype, fortran, py::bytes()));
        return rows;
    }
    {
        py::gil_scoped_release unlocked;
        v.copy_to(std::span(static_cast<std::byte*>(rows.mutable_data()), static_cast<std::size_t>(v.nbytes())));
    }
    if (v.dim() == 0) return rows.attr("__getitem__")(py::tuple());  // numpy.core.multiarray.scalar
    if (v.dim() < 2 || v.is_contiguous() || !fortran_ordered(v)) return rows;
    return py::module_::import("numpy").attr("asfortranarray")(rows);
}

}  // namespace ptio::python
