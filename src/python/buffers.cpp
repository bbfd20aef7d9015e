// buffers.cpp — the buffer-protocol class behind zero-copy CPU tensors.
#include "python/buffers.hpp"

namespace py = pybind11;

namespace ptio::python {

void register_buffers(py::module_& m) {
    py::class_<host_buffer>(m, "_HostBuffer", py::buffer_protocol(),
                            "Bytes of a loaded checkpoint lent to Python; keeps them alive.")
        .def_buffer([](host_buffer& b) {
            return py::buffer_info(b.data, 1, py::format_descriptor<unsigned char>::format(), 1,
                                   {static_cast<py::ssize_t>(b.size)}, {py::ssize_t{1}}, !b.writable);
        })
        .def("__len__", [](const host_buffer& b) { return b.size; })
        .def_property_readonly("writable", [](const host_buffer& b) { return b.writable; });
}

py::object make_host_buffer(host_buffer b) { return py::cast(std::move(b)); }

}  // namespace ptio::python
