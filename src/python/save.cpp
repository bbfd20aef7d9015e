// save.cpp — from ptio._save's plain arguments to ptio::save. The converter, which keeps
// alive every Python object whose bytes the tree borrows, outlives the write; the write runs
// without the GIL, so other Python threads go on while the bytes reach the file.
#include "python/save.hpp"

#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include <ptio/save.hpp>

#include "python/buffers.hpp"
#include "python/from_python.hpp"

namespace py = pybind11;

namespace ptio::python {

void register_save(py::module_& m) {
    m.def(
        "save",
        [](py::handle obj, py::object path, std::vector<std::string> allow_globals, bool drop_objects) -> py::object {
            from_python convert;
            const ptio::tree root = convert(obj);
            ptio::save_options options;
            options.allow_globals = std::move(allow_globals);
            options.drop_objects = drop_objects;
            if (!path.is_none()) {
                const std::string target = path.cast<std::string>();
                py::gil_scoped_release unlocked;
                (void)ptio::save(root, target, options);
                return py::none();
            }
            std::shared_ptr<std::vector<std::byte>> bytes;
            {
                py::gil_scoped_release unlocked;
                bytes = std::make_shared<std::vector<std::byte>>(ptio::save(root, options));
            }
            host_buffer b{bytes, bytes->data(), bytes->size(), false};
            return make_host_buffer(std::move(b));
        },
        py::arg("obj"), py::arg("path"), py::arg("allow_globals"), py::arg("drop_objects"),
        "Save an object to a str path (returns None) or, with path None, into memory (returns a "
        "buffer object). See ptio.save, which normalizes the arguments.");
}

}  // namespace ptio::python
