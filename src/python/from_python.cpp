// from_python.cpp — the walk from Python objects to a ptio::tree. Types are matched exactly,
// as pickle dispatches on them: a subclass (an IntEnum, a dict subclass, a Tensor subclass)
// would need its class written and run by torch.load, so it is refused with TypeError rather
// than silently saved as its base.
#include "python/from_python.hpp"

#include <ptio/dtype.hpp>
#include <ptio/error.hpp>

#include <span>
#include <string_view>

namespace py = pybind11;

namespace ptio::python {
namespace {

constexpr std::size_t max_depth = 1000;

// The types the walk dispatches on, looked up once. Leaked on purpose: Python objects must
// not be destroyed after the interpreter has finalized, which a static's destructor would do.
struct known_types {
    py::module_ torch = py::module_::import("torch");
    py::object tensor = torch.attr("Tensor");
    py::object parameter = torch.attr("nn").attr("Parameter");
    py::object module = torch.attr("nn").attr("Module");
    py::object size = torch.attr("Size");
    py::object dtype = torch.attr("dtype");
    py::object device = torch.attr("device");
    py::object layout = torch.attr("layout");
    py::object memory_format = torch.attr("memory_format");
    py::object strided = torch.attr("strided");
    py::object uint8 = torch.attr("uint8");
    py::module_ collections = py::module_::import("collections");
    py::object ordered_dict = collections.attr("OrderedDict");
    py::object counter = collections.attr("Counter");
    py::object defaultdict = collections.attr("defaultdict");
    py::object opaque = py::module_::import("ptio._objects").attr("Opaque");
    py::object typed_storage = py::module_::import("torch.storage").attr("TypedStorage");
    // torch ≥ 2.0: Tensor.untyped_storage(); 1.13: Tensor._storage(), the same UntypedStorage
    const char* untyped_name =
        py::hasattr(tensor, "untyped_storage") ? "untyped_storage" : "_storage";
    // numpy's, once a walk meets numpy already imported (no numpy objects exist before)
    py::object ndarray, numpy_generic, numpy_dtype;

    [[nodiscard]] bool numpy_loaded() {
        if (ndarray) return true;
        py::dict modules = py::module_::import("sys").attr("modules");
        if (!modules.contains("numpy")) return false;
        py::object np = modules["numpy"];
        ndarray = np.attr("ndarray");
        numpy_generic = np.attr("generic");
        numpy_dtype = np.attr("dtype");
        return true;
    }
};

known_types& types() {
    static known_types* t = new known_types();  // NOLINT: see above
    return *t;
}

bool is_type(py::handle o, const py::object& t) { return Py_TYPE(o.ptr()) == reinterpret_cast<PyTypeObject*>(t.ptr()); }

std::span<const std::byte> byte_span(const char* data, Py_ssize_t n) {
    return {reinterpret_cast<const std::byte*>(data), static_cast<std::size_t>(n)};
}

std::vector<std::int64_t> int_list(py::handle sequence) {
    std::vector<std::int64_t> out;
    for (py::handle i : sequence) out.push_back(i.cast<std::int64_t>());
    return out;
}

// "torch.float32" → "float32": torch's dtypes, layouts and memory formats print as their global.
std::string torch_name(py::handle o) {
    std::string s = py::str(o);
    return s.rfind("torch.", 0) == 0 ? s.substr(6) : s;
}

std::string type_name(py::handle o) {
    py::handle t = reinterpret_cast<PyObject*>(Py_TYPE(o.ptr()));
    const std::string module = py::str(py::getattr(t, "__module__", py::str("?")));
    const std::string name = py::str(py::getattr(t, "__qualname__", py::str("?")));
    return module == "builtins" ? name : module + "." + name;
}

}  // namespace

from_python::from_python() { (void)types(); }

std::string from_python::path() const {
    std::string out = "obj";
    for (const step& s : path_) {
        if (s.key && s.attr) {
            out += "<key " + std::string(py::repr(s.key)) + ">";  // the key itself
        } else if (s.key) {
            out += "[" + std::string(py::repr(s.key)) + "]";
        } else if (s.attr) {
            out += "." + std::string(s.attr);
            if (s.index != SIZE_MAX) out += "[" + std::to_string(s.index) + "]";
        } else {
            out += "[" + std::to_string(s.index) + "]";
        }
    }
    return out;
}

void from_python::unsupported(py::handle o, const std::string& why) const {
    throw py::type_error("ptio.save: cannot save " + type_name(o) + " at " + path() +
                         (why.empty() ? "" : ": " + why));
}

tree from_python::child(py::handle o, step s) {
    path_.push_back(s);
    tree out = convert(o);
    path_.pop_back();
    return out;
}

tree from_python::convert(py::handle o) {
    PyObject* p = o.ptr();
    if (p == Py_None) return tree();
    if (p == Py_True || p == Py_False) return tree(p == Py_True);
    if (PyFloat_CheckExact(p)) return tree(PyFloat_AS_DOUBLE(p));
    if (PyLong_CheckExact(p)) {
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(p, &overflow);
        if (!overflow) {
            if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
            return tree(static_cast<std::int64_t>(v));
        }
        // Two's complement, little-endian, one spare bit for the sign: what LONG1 holds.
        const auto bits = o.attr("bit_length")().cast<std::size_t>();
        py::bytes b = o.attr("to_bytes")(bits / 8 + 1, "little", py::arg("signed") = true);
        const std::string_view s = b;
        return tree::big_int(byte_span(s.data(), static_cast<Py_ssize_t>(s.size())));
    }
    if (PyUnicode_CheckExact(p)) {
        Py_ssize_t n = 0;
        if (const char* s = PyUnicode_AsUTF8AndSize(p, &n)) return tree(std::string_view(s, static_cast<std::size_t>(n)));
        PyErr_Clear();  // lone surrogates: as pickle writes them, which ptio::save then refuses
        py::bytes b = py::reinterpret_steal<py::bytes>(PyUnicode_AsEncodedString(p, "utf-8", "surrogatepass"));
        if (!b) throw py::error_already_set();
        return tree(std::string_view(b));
    }
    if (auto it = memo_.find(p); it != memo_.end()) return it->second;
    if (active_.count(p)) {  // inside itself: a reference back, pointed at it once it is made
        tree b = tree::back_reference("the " + type_name(o) + " at " + path() + " (inside itself)");
        pending_[p].push_back(b);
        return b;
    }
    if (path_.size() > max_depth)
        throw ptio::error(errc::limit_exceeded, "ptio.save: the object nests deeper than " +
                                                    std::to_string(max_depth) + " levels at " + path());
    active_.insert(p);
    tree out = fresh(o);
    active_.erase(p);
    if (auto it = pending_.find(p); it != pending_.end()) {
        for (tree& b : it->second) b.refer_to(out);
        pending_.erase(it);
    }
    memo_.emplace(p, out);
    held_.append(o);  // its id must stay its own while the memo holds it
    return out;
}

void from_python::fill_items(tree& out, py::handle iterable) {
    std::size_t i = 0;
    for (py::handle item : iterable) out.append(child(item, {py::handle(), i++, nullptr}));
}

tree from_python::fresh(py::handle o) {
    PyObject* p = o.ptr();
    auto& k = types();
    if (PyBytes_CheckExact(p)) return tree::bytes(byte_span(PyBytes_AS_STRING(p), PyBytes_GET_SIZE(p)));
    if (PyByteArray_CheckExact(p))
        return tree::bytearray(byte_span(PyByteArray_AS_STRING(p), PyByteArray_GET_SIZE(p)));
    if (PyComplex_CheckExact(p))
        return tree::call("builtins", "complex",
                          tree::tuple({PyComplex_RealAsDouble(p), PyComplex_ImagAsDouble(p)}));
    if (PyList_CheckExact(p) || PyTuple_CheckExact(p) || PySet_CheckExact(p) || PyFrozenSet_CheckExact(p)) {
        tree out = PyList_CheckExact(p)    ? tree::list()
                   : PyTuple_CheckExact(p) ? tree::tuple()
                   : PySet_CheckExact(p)   ? tree::set()
                                           : tree::frozenset();
        fill_items(out, o);
        return out;
    }
    if (PyDict_CheckExact(p)) return dict(o, tree::dict());
    if (is_type(o, k.ordered_dict)) return dict(o, tree::ordered_dict());
    if (is_type(o, k.counter)) return dict(o, tree::counter());
    if (is_type(o, k.defaultdict)) {
        if (!o.attr("default_factory").is_none())
            unsupported(o, "a defaultdict with a default_factory (ptio writes no callables; set it to None)");
        return dict(o, tree::defaultdict());
    }
    if (is_type(o, k.tensor) || is_type(o, k.parameter)) return tensor(o);
    if (is_type(o, k.typed_storage)) {  // a storage on its own: written as one again
        py::object over = k.torch.attr("tensor")(py::list(), py::arg("dtype") = o.attr("dtype"),
                                                 py::arg("device") = o.attr("device"))
                              .attr("set_")(o);
        held_.append(over);
        const std::string dtype_text = torch_name(o.attr("dtype"));
        const auto type = ptio::dtype_from_name(dtype_text);
        if (!type) unsupported(o, "its dtype " + dtype_text + " is one ptio does not know");
        return tree::storage(storage(over), *type);
    }
    bool done = false;
    tree t = torch_value(o, done);
    if (done) return t;
    if (is_type(o, k.opaque)) return opaque(o);
    if (k.numpy_loaded()) {
        if (py::isinstance(o, k.ndarray) || py::isinstance(o, k.numpy_generic) || py::isinstance(o, k.numpy_dtype))
            return numpy_value(o);
        // the classes numpy's own pickles name (numpy.ndarray in an array's arguments)
        if (PyType_Check(p) && py::str(o.attr("__module__")).cast<std::string>().rfind("numpy", 0) == 0)
            return tree::global(o.attr("__module__").cast<std::string>(), o.attr("__name__").cast<std::string>());
    }
    if (PyObject_IsInstance(p, k.tensor.ptr()) == 1)
        unsupported(o, "a subclass of torch.Tensor other than nn.Parameter");
    if (PyObject_IsInstance(p, k.module.ptr()) == 1)
        unsupported(o, "a whole module is its class's pickle, which torch.load would run; save its state_dict()");
    unsupported(o);
}

tree from_python::torch_value(py::handle o, bool& done) {
    auto& k = types();
    done = true;
    if (is_type(o, k.size)) {
        tree items = tree::tuple();
        fill_items(items, o);
        return tree::call("torch", "Size", tree::tuple({items}));
    }
    if (is_type(o, k.dtype) || is_type(o, k.memory_format)) return tree::global("torch", torch_name(o));
    if (is_type(o, k.layout))  // as torch pickles a layout: by its name
        return tree::call("torch.serialization", "_get_layout", tree::tuple({std::string(py::str(o))}));
    if (is_type(o, k.device)) {
        tree args = tree::tuple({o.attr("type").cast<std::string>()});
        if (py::object index = o.attr("index"); !index.is_none()) args.append(index.cast<std::int64_t>());
        return tree::call("torch", "device", args);
    }
    done = false;
    return tree();
}

tree from_python::tensor(py::handle t) {
    auto& k = types();
    if (!py::object(t.attr("layout")).is(k.strided))
        unsupported(t, "a " + std::string(py::str(t.attr("layout"))) + " tensor; ptio writes strided tensors only");
    py::object dense = py::reinterpret_borrow<py::object>(t);
    if (t.attr("is_conj")().cast<bool>() || t.attr("is_neg")().cast<bool>()) {
        // The lazy conjugate/negative bits: written resolved (a copy), which torch.load reads as
        // the same values on every torch.
        dense = dense.attr("resolve_conj")().attr("resolve_neg")();
        held_.append(dense);
    }
    const std::string dtype_text = torch_name(t.attr("dtype"));
    const auto type = ptio::dtype_from_name(dtype_text);
    if (!type) unsupported(t, "its dtype " + dtype_text + " is one ptio does not know");
    const std::string device = py::str(t.attr("device").attr("type"));
    auto shape = int_list(t.attr("shape"));
    auto strides = int_list(dense.attr("stride")());
    tree out;
    if (device == "meta") {
        out = tree::meta_tensor(*type, std::move(shape), std::move(strides));
    } else if (device == "cpu" || device == "cuda") {
        const auto offset = dense.attr("storage_offset")().cast<std::int64_t>();
        out = tree::tensor(storage(dense), *type, std::move(shape), std::move(strides), offset);
    } else {
        unsupported(t, "a tensor on " + device + "; ptio writes CPU, CUDA and meta tensors");
    }
    out.requires_grad(t.attr("requires_grad").cast<bool>());
    if (is_type(t, k.parameter)) out.parameter();
    return out;
}

storage_ref from_python::storage(py::handle t) {
    auto& k = types();
    py::object s = t.attr(k.untyped_name)();
    const auto key = s.attr("_cdata").cast<std::uintptr_t>();  // the storage itself, not its wrapper
    if (auto it = storages_.find(key); it != storages_.end()) return it->second;
    const auto nbytes = s.attr("nbytes")().cast<std::size_t>();
    py::object device = s.attr("device");
    py::object host = s;
    std::string location = "cpu";
    if (py::str(device.attr("type")).cast<std::string>() != "cpu") {
        // One copy to the host per storage, whatever number of tensors view it.
        location = py::str(device);
        host = k.torch.attr("empty")(py::make_tuple(0), py::arg("dtype") = k.uint8, py::arg("device") = device)
                   .attr("set_")(s, 0, py::make_tuple(nbytes), py::make_tuple(1))
                   .attr("cpu")();
    }
    held_.append(s);
    held_.append(host);
    const auto data = host.attr("data_ptr")().cast<std::uintptr_t>();
    auto ref = storage_ref::borrow({reinterpret_cast<const std::byte*>(data), nbytes}, location);
    storages_.emplace(key, ref);
    return ref;
}

tree from_python::dict(py::handle o, tree out) {
    auto add = [&](py::handle key, py::handle v) {
        tree key_tree = child(key, {key, 0, "keys"});
        out.set(std::move(key_tree), child(v, {key, 0, nullptr}));
    };
    if (PyDict_CheckExact(o.ptr())) {
        PyObject *key = nullptr, *v = nullptr;
        Py_ssize_t pos = 0;
        while (PyDict_Next(o.ptr(), &pos, &key, &v)) add(key, v);
        return out;
    }
    // A subclass's own order (OrderedDict.move_to_end), not the underlying dict's.
    for (py::handle item : o.attr("items")()) add(item[py::int_(0)], item[py::int_(1)]);
    if (py::object attrs = py::getattr(o, "__dict__", py::none()); !attrs.is_none() && py::len(attrs) > 0)
        out.state(child(attrs, {py::handle(), SIZE_MAX, "__dict__"}));
    return out;
}

tree from_python::opaque(py::handle o) {
    const std::string name = o.attr("name").cast<std::string>();
    const std::string origin = o.attr("origin").cast<std::string>();
    const auto dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == name.size())
        unsupported(o, "its name '" + name + "' is not module.name");
    std::string module = name.substr(0, dot), qualname = name.substr(dot + 1);
    tree out;
    if (origin == "global") {
        out = tree::global(std::move(module), std::move(qualname));
    } else {
        py::object args = o.attr("args");
        if (!PyTuple_CheckExact(args.ptr())) unsupported(o, "its args are not a tuple");
        tree a = child(args, {py::handle(), SIZE_MAX, "args"});
        if (origin == "call")
            out = tree::call(std::move(module), std::move(qualname), a);
        else if (origin == "instance")
            out = tree::instance(std::move(module), std::move(qualname), a);
        else if (origin == "subclass" && py::len(args) == 1)
            out = tree::subclass(std::move(module), std::move(qualname), a.items()[0]);
        else
            unsupported(o, "its origin '" + origin + "' is not global, call, instance or subclass");
    }
    std::size_t i = 0;
    for (py::handle item : o.attr("items")) out.append(child(item, {py::handle(), i++, "items"}));
    i = 0;
    for (py::handle pair : o.attr("entries")) {
        tree key = child(pair[py::int_(0)], {py::handle(), i, "entries"});
        out.set(std::move(key), child(pair[py::int_(1)], {py::handle(), i++, "entries"}));
    }
    if (py::object state = o.attr("state"); !state.is_none())
        out.state(child(state, {py::handle(), SIZE_MAX, "state"}));
    return out;
}

tree from_python::numpy_value(py::handle o) {
    // As numpy pickles itself: _reconstruct(ndarray, (0,), b'b') with (version, shape, dtype,
    // fortran, bytes) as its state; dtype(('f8', False, True)) with its byte order as state;
    // scalar(dtype, bytes). The array's bytes are numpy's own copy in that state.
    py::tuple r = o.attr("__reduce__")();
    held_.append(r);
    if (r.size() < 2 || r.size() > 5 || !PyTuple_CheckExact(r[1].ptr())) unsupported(o, "its __reduce__ is not (callable, args[, state])");
    for (std::size_t i = 3; i < r.size(); ++i)
        if (!r[i].is_none()) unsupported(o, "its __reduce__ gives list or dict items");
    py::handle fn = r[0];
    tree out = tree::call(fn.attr("__module__").cast<std::string>(), fn.attr("__name__").cast<std::string>(),
                          child(r[1], {py::handle(), SIZE_MAX, "__reduce__()[1]"}));
    if (r.size() > 2 && !r[2].is_none()) out.state(child(r[2], {py::handle(), SIZE_MAX, "__reduce__()[2]"}));
    return out;
}

}  // namespace ptio::python
