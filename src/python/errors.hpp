// errors.hpp — ptio::error as the Python exception ptio.Error (ptio/_errors.py).
//
// register_errors installs a pybind11 exception translator: every ptio::error that crosses into
// Python becomes ptio.Error (or one of its subclasses that are also FileNotFoundError,
// IsADirectoryError, pickle.UnpicklingError or KeyError) with .code, .file, .record and .offset.
// Call once, from the module's init, with the GIL held.
#pragma once

#include <pybind11/pybind11.h>

namespace ptio::python {

void register_errors(pybind11::module_& m);

}  // namespace ptio::python
