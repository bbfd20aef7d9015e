// to_python.hpp — a checkpoint's object tree as the Python objects torch.load returns.
//
// to_python walks a ptio::value and builds: None, bool, int (any size), float, str, bytes or
// bytearray, list, tuple or torch.Size, set or frozenset, dict / OrderedDict / Counter /
// defaultdict (with the attributes BUILD gave them, such as a state_dict's `_metadata`),
// tensors through a torch_tensors builder, and, for a global ptio does not run, whatever
// ptio/_objects.py makes of it (torch.device, dtypes, complex, … or a ptio.Opaque holding its
// name, arguments and state). A node the file shares (its pickle memo) becomes one Python object
// reached from every place, so shared storages, shared submodules and cyclic lists come back
// as torch.load gives them.
//
// Thread-safety: one converter per conversion, with the GIL held. Failure: ptio::error for
// nesting past 1000 levels or a cycle through a tuple or an object's arguments (which Python
// values cannot express); Python errors (an unhashable dict key) propagate.
#pragma once

#include <pybind11/pybind11.h>

#include <unordered_map>
#include <unordered_set>

#include <ptio/value.hpp>

#include "python/torch_tensors.hpp"

namespace ptio::python {

class to_python {
public:
    explicit to_python(torch_tensors& tensors);

    [[nodiscard]] pybind11::object operator()(const ptio::value& v) { return convert(v, 0); }

private:
    [[nodiscard]] pybind11::object convert(const ptio::value& v, unsigned depth);
    [[nodiscard]] pybind11::object make(const ptio::value& v, unsigned depth);
    [[nodiscard]] pybind11::object make_dict(const ptio::value& v, unsigned depth);
    [[nodiscard]] pybind11::object make_object(const ptio::value& v, unsigned depth);
    [[nodiscard]] pybind11::list items(const ptio::value& v, unsigned depth);

    torch_tensors& tensors_;
    pybind11::object objects_;  // ptio._objects
    std::unordered_map<const void*, pybind11::object> memo_;
    std::unordered_set<const void*> building_;
};

}  // namespace ptio::python
