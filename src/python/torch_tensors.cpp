// torch_tensors.cpp — building torch.Tensors the way torch's _rebuild_tensor does (an empty
// tensor of the dtype, then set_(storage, offset, size, stride)), from C++ so that a
// 2,400-tensor state_dict costs a few microseconds per tensor rather than an unpickling.
#include "python/torch_tensors.hpp"

#include <pybind11/numpy.h>

#include <string>
#include <vector>

#include <ptio/dlpack.hpp>

#include "python/buffers.hpp"
#include "python/dlpack_export.hpp"
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
    py::object from_dlpack = torch.attr("_C").attr("_from_dlpack");
    // torch ≥ 2.0: Tensor.untyped_storage(); 1.13: Tensor._storage() (its storage() wraps that
    // in a TypedStorage made in Python, 25 µs a tensor).
    py::str untyped_name{py::hasattr(torch.attr("Tensor"), "untyped_storage") ? "untyped_storage" : "_storage"};
    py::object tensor_set = torch.attr("Tensor").attr("set_");
    py::dict as_bytes = [this] {
        py::dict kw;
        kw["dtype"] = uint8;
        return kw;
    }();
    std::map<int, py::object> dtypes;

    // The calls made for every tensor go through the C API with their arguments made once:
    // pybind11's attribute and keyword helpers cost more than torch's own work here.
    [[nodiscard]] py::object untyped(const py::object& base) const {
        return steal(PyObject_CallMethodNoArgs(base.ptr(), untyped_name.ptr()));
    }
    [[nodiscard]] py::object bytes_over(const py::object& buffer) const {
        py::tuple args = py::make_tuple(buffer);
        return steal(PyObject_Call(frombuffer.ptr(), args.ptr(), as_bytes.ptr()));
    }
    [[nodiscard]] static py::object steal(PyObject* o) {
        if (!o) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(o);
    }
};

torch_api& api() {
    static torch_api* a = new torch_api();  // NOLINT: see above
    return *a;
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

py::tuple int_tuple(std::span<const std::int64_t> v) {
    py::tuple t(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) t[i] = py::int_(v[i]);
    return t;
}

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
    : owner_(owner), loaded_(owner.get()), writable_(writable) {}

torch_tensors::torch_tensors(std::shared_ptr<const ptio::checkpoint> owner, bool writable, bool whole_tree)
    : owner_(owner), checkpoint_(owner.get()), writable_(writable), whole_tree_(whole_tree) {}

placement torch_tensors::place(const ptio::tensor& t) const {
    if (loaded_) {
        const ptio::device_tensor& d = loaded_->placement(t);
        return {d.device(), d.storage_data(), d.storage_nbytes()};
    }
    if (!t.view().has_data()) return {ptio::device::meta(), nullptr, 0};
    const auto bytes = t.view().storage_bytes();
    return {ptio::device::cpu(), bytes.data(), bytes.size()};
}

py::object torch_tensors::get(const ptio::tensor& t) {
    if (auto it = tensors_.find(&t); it != tensors_.end()) return it->second;
    py::object out = t.is_numpy() ? make_numpy(t) : make_torch(t);
    tensors_.emplace(&t, out);
    return out;
}

py::object torch_tensors::prototype(ptio::dtype type, const ptio::device& where) {
    const auto key = std::tuple(static_cast<int>(type), static_cast<int>(where.kind), where.ordinal());
    if (auto it = prototypes_.find(key); it != prototypes_.end()) return it->second;
    // The bound method `new` of an empty tensor of that dtype and device: a call makes another.
    py::object p = api().empty(py::make_tuple(0), py::arg("dtype") = torch_dtype(type),
                               py::arg("device") = device_text(where)).attr("new");
    prototypes_.emplace(key, p);
    return p;
}

py::object torch_tensors::storage(const placement& p) {
    auto& a = api();
    const auto key = std::tuple(static_cast<int>(p.device.kind), p.device.ordinal(), p.storage);
    const bool shareable = p.nbytes > 0;
    if (shareable) {
        if (auto it = storages_.find(key); it != storages_.end()) return it->second;
    }
    py::object base;
    if (!shareable) {
        base = a.empty(py::make_tuple(0), py::arg("dtype") = a.uint8, py::arg("device") = device_text(p.device));
    } else if (p.device.is_cuda()) {
        base = a.from_dlpack(storage_capsule(owner_, p.storage, p.device, p.nbytes));
    } else {
        host_buffer b{owner_, const_cast<std::byte*>(p.storage),  // NOLINT: lent to torch, writable
                      static_cast<std::size_t>(p.nbytes), writable_};  // only where the bytes are
        base = a.bytes_over(make_host_buffer(std::move(b)));
    }
    py::object s = a.untyped(base);
    if (shareable) storages_.emplace(key, s);
    return s;
}

// dtypes every torch from 1.13 on imports through DLPack (1.13 refuses bool, and knows no
// uint16/32/64 or float8); the others take the general path.
bool imports_through_dlpack(ptio::dtype t) {
    switch (t) {
        case ptio::dtype::float64: case ptio::dtype::float32: case ptio::dtype::float16:
        case ptio::dtype::bfloat16: case ptio::dtype::int64: case ptio::dtype::int32:
        case ptio::dtype::int16: case ptio::dtype::int8: case ptio::dtype::uint8:
        case ptio::dtype::complex64: case ptio::dtype::complex128: return true;
        default: return false;
    }
}

bool torch_tensors::alone(const ptio::tensor& t, const placement& p) {
    const auto& v = t.view();
    if (!whole_tree_ || p.nbytes == 0 || p.device.is_meta() || !imports_through_dlpack(t.dtype()) || v.storage_offset() != 0 ||
        v.nbytes() != p.nbytes || !v.is_contiguous())
        return false;
    if (users_.empty()) {  // distinct tensors per storage, counted once for the whole tree
        const ptio::checkpoint& ck = loaded_ ? loaded_->source() : *checkpoint_;
        std::unordered_set<const ptio::tensor*> seen;
        for (const auto& named : ck.tensors())
            if (named.tensor->view().has_data() && seen.insert(named.tensor).second)
                ++users_[place(*named.tensor).storage];
    }
    const auto it = users_.find(p.storage);
    return it != users_.end() && it->second == 1;
}

py::object torch_tensors::make_torch(const ptio::tensor& t) {
    auto& a = api();
    switch (t.dtype()) {
        case ptio::dtype::qint8: case ptio::dtype::quint8: case ptio::dtype::qint32:
        case ptio::dtype::quint4x2: case ptio::dtype::quint2x4:
            // torch rebuilds these with their quantizer (scale, zero point), which ptio's tensor
            // does not carry: a plain tensor of their bytes would be a different value.
            throw ptio::error(errc::unsupported_format, (loaded_ ? loaded_->source() : *checkpoint_).file(), "",
                              std::nullopt,
                              "a quantized tensor (" + std::string(name(t.dtype())) +
                                  "): ptio does not rebuild quantized tensors for torch yet "
                                  "(ptio.open(f).info(name) describes it)");
        default: break;
    }
    const placement p = place(t);
    const auto& v = t.view();
    py::object out;
    if (p.device.is_meta() && v.has_data()) {
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
    } else if (p.device.is_meta() || !v.has_data()) {
        out = a.empty_strided(int_tuple(v.shape()), int_tuple(v.strides()),
                              py::arg("dtype") = torch_dtype(t.dtype()), py::arg("device") = "meta");
    } else if (alone(t, p)) {
        // The storage's only tensor, covering all of it: one DLPack import makes the tensor
        // and its storage together (a third of the calls of the general path below).
        dlpack_view d{owner_, p.storage, p.device, t.dtype(), v.shape(), v.strides(), 0, !writable_};
        out = a.from_dlpack(legacy_capsule(to_dlpack_legacy(d)));
    } else {
        out = torch_api::steal(PyObject_CallNoArgs(prototype(t.dtype(), p.device).ptr()));
        py::object s = storage(p);
        py::int_ offset(v.storage_offset());
        py::tuple shape = int_tuple(v.shape());
        py::tuple strides = int_tuple(v.strides());
        py::object done = torch_api::steal(PyObject_CallFunctionObjArgs(
            a.tensor_set.ptr(), out.ptr(), s.ptr(), offset.ptr(), shape.ptr(), strides.ptr(), nullptr));
    }
    if (t.is_storage()) {
        // A storage saved on its own: torch.load gives a TypedStorage, over the same bytes.
        if (py::hasattr(out, "untyped_storage"))  // torch >= 2.0
            return py::module_::import("torch.storage")
                .attr("TypedStorage")(py::arg("wrap_storage") = out.attr("untyped_storage")(),
                                      py::arg("dtype") = out.attr("dtype"), py::arg("_internal") = true);
        return out.attr("storage")();  // 1.13: a TypedStorage
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
