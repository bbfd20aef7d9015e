// to_python.cpp — the walk from ptio::value to Python objects. Mutable containers are memoized
// before they are filled, so a list or dict that contains itself comes back as the same cyclic
// Python object torch's unpickler builds; immutable ones (tuples, frozensets, object arguments)
// cannot contain themselves in Python, so a file that makes them do is refused.
#include "python/to_python.hpp"

#include <string>

#include <ptio/error.hpp>
#include <ptio/tensor.hpp>

namespace py = pybind11;

namespace ptio::python {
namespace {

constexpr unsigned max_depth = 1000;

py::object text(std::string_view s) {
    // As pickle decodes BINUNICODE: UTF-8 with lone surrogates let through.
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogatepass");
    if (!o) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(o);
}

py::bytes raw(std::span<const std::byte> b) {
    return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
}

const char* origin_name(value::origin o) {
    switch (o) {
        case value::origin::global: return "global";
        case value::origin::call: return "call";
        case value::origin::instance: return "instance";
        case value::origin::subclass: return "subclass";
    }
    return "global";
}

}  // namespace

to_python::to_python(torch_tensors& tensors)
    : tensors_(tensors), objects_(py::module_::import("ptio._objects")) {}

py::object to_python::convert(const value& v, unsigned depth) {
    if (depth > max_depth)
        throw ptio::error(errc::limit_exceeded, "the object tree nests deeper than " +
                                                    std::to_string(max_depth) + " levels");
    // Only containers and objects are memoized: a str, bytes or big int the pickle shares need
    // not be one Python object (nothing can tell), and a state_dict has a str per tensor.
    const bool shared = v.is(kind::list) || v.is(kind::tuple) || v.is(kind::set) || v.is(kind::dict) ||
                        v.is(kind::object);
    const void* id = shared ? v.identity() : nullptr;
    if (id) {
        if (auto it = memo_.find(id); it != memo_.end()) return it->second;
        if (building_.count(id))
            throw ptio::error(errc::bad_pickle, "the object tree holds a " + std::string(to_string(v.type())) +
                                                    " that contains itself, which Python cannot build");
        building_.insert(id);
    }
    py::object out = make(v, depth);
    if (id) {
        building_.erase(id);
        memo_.emplace(id, out);  // a list, dict or object may already be there (itself)
    }
    return out;
}

py::list to_python::items(const value& v, unsigned depth) {
    py::list out;
    for (const auto& item : v.items()) out.append(convert(item, depth + 1));
    return out;
}

py::object to_python::make(const value& v, unsigned depth) {
    switch (v.type()) {
        case kind::none: return py::none();
        case kind::boolean: return py::bool_(v.as_bool());
        case kind::integer: return py::int_(v.as_int());
        case kind::big_integer:
            return py::module_::import("builtins").attr("int").attr("from_bytes")(
                raw(v.as_bytes()), "little", py::arg("signed") = true);
        case kind::floating: return py::float_(v.as_float());
        case kind::string: return text(v.as_string());
        case kind::bytes:
            if (v.class_name() == "builtins.bytearray") {
                const auto b = v.as_bytes();
                return py::reinterpret_steal<py::object>(PyByteArray_FromStringAndSize(
                    reinterpret_cast<const char*>(b.data()), static_cast<Py_ssize_t>(b.size())));
            }
            return raw(v.as_bytes());
        case kind::list: {
            py::list out;
            memo_.emplace(v.identity(), out);
            building_.erase(v.identity());
            for (const auto& item : v.items()) out.append(convert(item, depth + 1));
            return out;
        }
        case kind::tuple: {
            py::tuple out(items(v, depth));
            if (v.class_name() == "torch.Size") return objects_.attr("torch_size")(out);
            return out;
        }
        case kind::set: {
            py::list elements = items(v, depth);
            if (v.class_name() == "builtins.frozenset")
                return py::reinterpret_steal<py::object>(PyFrozenSet_New(elements.ptr()));
            return py::reinterpret_steal<py::object>(PySet_New(elements.ptr()));
        }
        case kind::dict: return make_dict(v, depth);
        case kind::tensor: return tensors_.get(v.as_tensor());
        case kind::object: return make_object(v, depth);
    }
    return py::none();
}

py::object to_python::make_dict(const value& v, unsigned depth) {
    py::object out = objects_.attr("make_dict")(py::str(std::string(v.class_name())));
    memo_.emplace(v.identity(), out);
    building_.erase(v.identity());
    for (const auto& [key, item] : v.entries()) {
        py::object k = convert(key, depth + 1);
        py::object x = convert(item, depth + 1);
        if (PyObject_SetItem(out.ptr(), k.ptr(), x.ptr()) != 0) throw py::error_already_set();
    }
    if (const value state = v.state(); !state.is_none())
        objects_.attr("set_state")(out, convert(state, depth + 1));
    return out;
}

py::object to_python::make_object(const value& v, unsigned depth) {
    // The shell first, so that state naming the object itself (a module's parent link) finds it.
    py::object shell = objects_.attr("make")(py::str(std::string(v.class_name())), origin_name(v.object_origin()));
    memo_.emplace(v.identity(), shell);
    const value args_v = v.args();
    py::object args = args_v.is_none() ? py::object(py::none()) : convert(args_v, depth + 1);
    building_.erase(v.identity());
    py::object state = convert(v.state(), depth + 1);
    py::list list_items;
    for (const auto& item : v.items()) list_items.append(convert(item, depth + 1));
    py::list dict_items;
    for (const auto& [key, item] : v.entries())
        dict_items.append(py::make_tuple(convert(key, depth + 1), convert(item, depth + 1)));
    py::object out = objects_.attr("fill")(shell, args, state, list_items, dict_items);
    if (!out.is(shell)) memo_[v.identity()] = out;
    return out;
}

}  // namespace ptio::python
