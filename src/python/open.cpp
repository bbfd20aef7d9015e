// open.cpp — ptio._ptio._Handle, the C++ half of ptio.open: one checkpoint opened (GIL
// released), tensors handed out one at a time as CPU views of its copy-on-write mapping (or of
// ptio's copy of the bytes), each over a storage shared with every other tensor the handle
// gave out from the same file storage. Handed-out tensors hold the checkpoint themselves, so
// they outlive close() and the handle.
#include "python/open.hpp"

#include <optional>
#include <string>
#include <unordered_set>

#include <pybind11/pybind11.h>

#include <ptio/checkpoint.hpp>
#include <ptio/error.hpp>

#include "python/dlpack_export.hpp"
#include "python/load.hpp"
#include "python/to_python.hpp"
#include "python/torch_tensors.hpp"

namespace py = pybind11;

namespace ptio::python {
namespace {

// Whether a value holds a tensor anywhere inside it (shared and cyclic trees walked once).
bool holds_tensor(const value& v, std::unordered_set<const void*>& seen, unsigned depth) {
    if (v.is(kind::tensor)) return true;
    if (depth > 1000) return true;  // deeper than any conversion goes: not metadata
    if (const void* id = v.identity(); id && !seen.insert(id).second) return false;
    switch (v.type()) {
        case kind::list:
        case kind::tuple:
        case kind::set:
            for (const auto& i : v.items())
                if (holds_tensor(i, seen, depth + 1)) return true;
            return false;
        case kind::dict:
            for (const auto& [k, i] : v.entries())
                if (holds_tensor(k, seen, depth + 1) || holds_tensor(i, seen, depth + 1)) return true;
            return !v.state().is_none() && holds_tensor(v.state(), seen, depth + 1);
        case kind::object: {
            if (holds_tensor(v.args(), seen, depth + 1) || holds_tensor(v.state(), seen, depth + 1)) return true;
            for (const auto& i : v.items())
                if (holds_tensor(i, seen, depth + 1)) return true;
            for (const auto& [k, i] : v.entries())
                if (holds_tensor(k, seen, depth + 1) || holds_tensor(i, seen, depth + 1)) return true;
            return false;
        }
        default: return false;
    }
}

class handle {
public:
    handle(const py::object& source, bool weights_only) {
        ptio::open_options options;
        options.weights_only = weights_only;
        checkpoint_ = open_source(source, options);
        tensors_.emplace(std::shared_ptr<const ptio::checkpoint>(checkpoint_), true, false);
    }

    [[nodiscard]] py::list keys() const {
        const auto& listed = [&]() -> decltype(auto) {
            py::gil_scoped_release unlocked;
            return ck().tensors();
        }();
        py::list out;
        for (const auto& t : listed) out.append(py::str(t.name));
        return out;
    }

    [[nodiscard]] bool contains(const std::string& name) const {
        py::gil_scoped_release unlocked;
        return ck().find(name) != nullptr;
    }

    [[nodiscard]] py::object get(const std::string& name) { return tensors().get(find(name)); }

    [[nodiscard]] py::tuple info(const std::string& name) const {
        const ptio::tensor& t = find(name);
        const auto& v = t.view();
        return py::make_tuple(torch_dtype(t.dtype()), int_tuple(v.shape()), int_tuple(v.strides()),
                              v.storage_offset(), v.nbytes(), t.location(), t.requires_grad(),
                              t.is_parameter(), std::string(v.storage_key()));
    }

    [[nodiscard]] py::object root() {
        to_python convert(tensors());
        return convert(ck().root());
    }

    [[nodiscard]] py::dict metadata() {
        py::dict out;
        const value& r = ck().root();
        if (!r.is(kind::dict)) return out;
        to_python convert(tensors());
        for (const auto& [k, v] : r.entries()) {
            std::unordered_set<const void*> seen;
            if (!holds_tensor(k, seen, 0) && !holds_tensor(v, seen, 0)) out[convert(k)] = convert(v);
        }
        return out;
    }

    [[nodiscard]] py::list state_dict() {
        const auto& listed = [&]() -> decltype(auto) {
            py::gil_scoped_release unlocked;
            return ck().state_dict();
        }();
        py::list out;
        for (const auto& t : listed) out.append(py::make_tuple(py::str(t.name), tensors().get(*t.tensor)));
        return out;
    }

    [[nodiscard]] py::object exported(const std::string& name) const { return make_export(shared(), find(name)); }

    [[nodiscard]] std::string file() const { return ck().file(); }
    [[nodiscard]] std::string format() const { return std::string(ck().format()); }

    void close() {
        tensors_.reset();
        checkpoint_.reset();
    }
    [[nodiscard]] bool closed() const { return !checkpoint_; }

    [[nodiscard]] const std::shared_ptr<const ptio::checkpoint>& shared() const {
        (void)ck();
        return checkpoint_;
    }
    [[nodiscard]] const ptio::tensor& find(const std::string& name) const {
        const named_tensor* t = nullptr;
        {
            py::gil_scoped_release unlocked;
            t = ck().find(name);
        }
        if (!t) throw ptio::error(errc::not_found, ck().file(), "", std::nullopt, "no tensor named '" + name + "'");
        return *t->tensor;
    }

private:
    [[nodiscard]] const ptio::checkpoint& ck() const {
        if (!checkpoint_) throw ptio::error(errc::invalid_argument, "the checkpoint is closed");
        return *checkpoint_;
    }
    [[nodiscard]] torch_tensors& tensors() {
        (void)ck();
        return *tensors_;
    }

    std::shared_ptr<const ptio::checkpoint> checkpoint_;
    std::optional<torch_tensors> tensors_;
};

}  // namespace

void register_open(py::module_& m) {
    py::class_<handle>(m, "_Handle", "An open checkpoint (see ptio.open).")
        .def(py::init<const py::object&, bool>(), py::arg("source"), py::arg("weights_only"))
        .def("keys", &handle::keys)
        .def("contains", &handle::contains)
        .def("get", &handle::get)
        .def("info", &handle::info)
        .def("root", &handle::root)
        .def("metadata", &handle::metadata)
        .def("state_dict", &handle::state_dict)
        .def("export", &handle::exported)
        .def("close", &handle::close)
        .def_property_readonly("closed", &handle::closed)
        .def_property_readonly("file", &handle::file)
        .def_property_readonly("format", &handle::format);
}

}  // namespace ptio::python
