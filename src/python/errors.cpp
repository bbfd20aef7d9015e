// errors.cpp — the translator from ptio::error to ptio.Error. The exception objects are made by
// ptio/_errors.py (the classes are plain Python, so they pickle and subclass as users expect);
// this file only hands over the fields.
#include "python/errors.hpp"

#include <ptio/error.hpp>

namespace py = pybind11;

namespace ptio::python {

void register_errors(py::module_& m) {
    (void)m;
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ptio::error& e) {
            py::object offset = e.offset() ? py::object(py::int_(*e.offset())) : py::object(py::none());
            py::object exc = py::module_::import("ptio._errors")
                                 .attr("make")(std::string(to_string(e.code())), e.what(), e.file(),
                                               e.record(), offset);
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
        }
    });
}

}  // namespace ptio::python
