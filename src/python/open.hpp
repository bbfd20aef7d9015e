// open.hpp — ptio._ptio._Handle, the C++ half of ptio.open (ptio/_open.py).
//
// A handle owns one opened checkpoint; every tensor it hands out holds a shared reference to
// that checkpoint, so tensors outlive close() and the handle itself. Thread-safety: a handle
// may be used from several Python threads (the GIL serializes its Python work; the reading
// parts release it). Failure: ptio::error (not_found for an unknown name, invalid_argument
// after close()).
#pragma once

#include <pybind11/pybind11.h>

namespace ptio::python {

void register_open(pybind11::module_& m);

}  // namespace ptio::python
