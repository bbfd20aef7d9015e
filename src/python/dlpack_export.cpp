// dlpack_export.cpp — ptio.TensorExport and the DLPack capsules.
//
// The protocol's consumer calls __dlpack__ once per import; each call builds a fresh export
// (ptio::to_dlpack) rather than handing out one made earlier, so an export can be imported
// any number of times, by consumers of either DLPack generation. The capsule names and the
// renaming rule are Python's DLPack protocol: a consumer that takes the tensor renames the
// capsule "used_…" and becomes responsible for calling the deleter.
#include "python/dlpack_export.hpp"

#include "python/torch_tensors.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <ptio/error.hpp>

namespace py = pybind11;

namespace ptio::python {
namespace {

namespace dl = ptio::dlpack;

constexpr char versioned_name[] = "dltensor_versioned";
constexpr char legacy_name[] = "dltensor";

// Runs when Python frees the capsule (with the GIL held). A consumer that took the tensor
// renamed it, so IsValid fails (without setting an error) and the consumer's copy is left alone.
template <class Managed, const char* Name>
void capsule_destructor(PyObject* capsule) noexcept {
    if (PyCapsule_IsValid(capsule, Name) == 0) return;
    dl::managed_deleter{}(static_cast<Managed*>(PyCapsule_GetPointer(capsule, Name)));
}

template <class Managed, const char* Name>
py::capsule make_capsule(std::unique_ptr<Managed, dl::managed_deleter> m) {
    PyObject* c = PyCapsule_New(m.get(), Name, &capsule_destructor<Managed, Name>);
    if (c == nullptr) throw py::error_already_set();  // m still frees the export
    (void)m.release();
    return py::reinterpret_steal<py::capsule>(c);
}

// The two sources, each as ptio::to_dlpack takes it: a shared owner and one of its tensors.
struct from_checkpoint {
    std::shared_ptr<const ptio::checkpoint> owner;
    const ptio::tensor* t;
};
struct from_load {
    std::shared_ptr<const ptio::loaded> owner;
    const ptio::device_tensor* t;
};

class tensor_export {
public:
    template <class Source>
    tensor_export(Source s, ptio::dtype type, std::span<const std::int64_t> shape, ptio::device where)
        : source_(std::move(s)), dtype_(type), shape_(shape.begin(), shape.end()), where_(where) {
        // One export made now: a refusal surfaces here, and it says what consumers get.
        dl::versioned_ptr probe;
        {
            py::gil_scoped_release unlocked;  // a loaded tensor may still be on its way
            probe = versioned();
        }
        device_ = probe->dl_tensor.device;
        readonly_ = (probe->flags & dl::flag_read_only) != 0;
    }

    [[nodiscard]] dl::versioned_ptr versioned() const {
        return std::visit([](const auto& s) { return ptio::to_dlpack(s.owner, *s.t); }, source_);
    }
    [[nodiscard]] dl::legacy_ptr legacy() const {
        return std::visit([](const auto& s) { return ptio::to_dlpack_legacy(s.owner, *s.t); }, source_);
    }

    [[nodiscard]] py::capsule dlpack(const py::object& stream, const py::object& max_version,
                                     const py::object& dl_device, const py::object& copy) const {
        // stream is not needed: the bytes are complete (waited for) before any export is made,
        // so a consumer's stream sees them without an event.
        (void)stream;
        if (!copy.is_none() && py::cast<bool>(copy))
            throw py::buffer_error("ptio exports views of the file or of device memory: it "
                                   "cannot make a copy (copy=True)");
        if (!dl_device.is_none()) {
            const auto want = py::cast<std::pair<int, int>>(dl_device);
            if (want.first != device_.device_type || want.second != device_.device_id)
                throw py::buffer_error("the tensor is on " + where_.str() +
                                       "; ptio cannot move it to DLPack device (" +
                                       std::to_string(want.first) + ", " +
                                       std::to_string(want.second) + ")");
        }
        // The protocol asks for byte_offset 0: consumers such as torch 1.13's from_dlpack
        // ignore the field and would read from the storage start.
        const bool versioned_ok =
            !max_version.is_none() && py::cast<int>(py::tuple(max_version)[0]) >= 1;
        if (versioned_ok) {
            dl::versioned_ptr m = versioned();
            dl::fold_byte_offset(m->dl_tensor);
            return versioned_capsule(std::move(m));
        }
        dl::legacy_ptr m = legacy();
        dl::fold_byte_offset(m->dl_tensor);
        return legacy_capsule(std::move(m));
    }

    [[nodiscard]] py::tuple device() const {
        return py::make_tuple(static_cast<int>(device_.device_type), device_.device_id);
    }
    [[nodiscard]] py::tuple shape() const {
        return int_tuple(shape_);
    }
    [[nodiscard]] std::string dtype() const { return std::string(name(dtype_)); }
    [[nodiscard]] std::string where() const { return where_.str(); }
    [[nodiscard]] bool readonly() const noexcept { return readonly_; }

    [[nodiscard]] std::string repr() const {
        std::string dims;
        for (std::size_t i = 0; i < shape_.size(); ++i)
            dims += (i ? ", " : "") + std::to_string(shape_[i]);
        if (shape_.size() == 1) dims += ",";
        return "ptio.TensorExport(dtype=" + dtype() + ", shape=(" + dims + "), device=" + where() +
               ", readonly=" + (readonly_ ? "True" : "False") + ")";
    }

private:
    std::variant<from_checkpoint, from_load> source_;
    ptio::dtype dtype_;
    std::vector<std::int64_t> shape_;
    ptio::device where_;
    dl::DLDevice device_{};
    bool readonly_ = true;
};

}  // namespace

py::capsule versioned_capsule(dl::versioned_ptr m) {
    return make_capsule<dl::DLManagedTensorVersioned, versioned_name>(std::move(m));
}

py::capsule legacy_capsule(dl::legacy_ptr m) {
    return make_capsule<dl::DLManagedTensor, legacy_name>(std::move(m));
}

py::object make_export(std::shared_ptr<const ptio::checkpoint> ck, const ptio::tensor& t) {
    return py::cast(tensor_export(from_checkpoint{std::move(ck), &t}, t.dtype(), t.shape(),
                                  ptio::device::cpu()));
}

py::object make_export(std::shared_ptr<const ptio::loaded> lo, const ptio::device_tensor& dt) {
    return py::cast(tensor_export(from_load{std::move(lo), &dt}, dt.dtype(), dt.shape(), dt.device()));
}

void register_dlpack(py::module_& m) {
    py::class_<tensor_export>(m, "TensorExport",
                              "One tensor of a checkpoint, lent through DLPack without a copy: "
                              "numpy.from_dlpack(x), torch.utils.dlpack.from_dlpack(x), "
                              "cupy.from_dlpack(x), jax.dlpack.from_dlpack(x).")
        .def("__dlpack__", &tensor_export::dlpack, py::kw_only(), py::arg("stream") = py::none(),
             py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(),
             py::arg("copy") = py::none(),
             "A DLPack capsule: 'dltensor_versioned' when max_version >= (1, 0), else the "
             "legacy 'dltensor'. The bytes are ready before it is made, so stream is ignored; "
             "dl_device must be the tensor's own and copy must not be True (BufferError).")
        .def("__dlpack_device__", &tensor_export::device, "(DLPack device type, device id).")
        .def_property_readonly("shape", &tensor_export::shape)
        .def_property_readonly("dtype", &tensor_export::dtype, "torch's name: 'float32', 'bool', …")
        .def_property_readonly("device", &tensor_export::where, "torch's spelling: 'cpu', 'cuda:0'")
        .def_property_readonly("readonly", &tensor_export::readonly,
                               "True when consumers must not write (a read-only file mapping)")
        .def("__repr__", &tensor_export::repr);

    m.def(
        "_dlpack_export",
        [](const std::string& path, const std::string& name) {
            std::shared_ptr<const ptio::checkpoint> ck;
            const ptio::tensor* t = nullptr;
            {
                py::gil_scoped_release unlocked;
                ptio::open_options options;
                options.copy_on_write = true;
                ck = std::make_shared<const ptio::checkpoint>(ptio::checkpoint::open(path, options));
                t = &ck->at(name);
            }
            return make_export(std::move(ck), *t);
        },
        py::arg("path"), py::arg("name"),
        "Test hook: open path (copy-on-write) and export the tensor `name`.");
}

}  // namespace ptio::python
