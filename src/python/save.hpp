// save.hpp — ptio._ptio.save: a Python object written as torch.save writes it, through
// from_python (the tree) and ptio::save (the file), the GIL released while writing.
//
// Thread-safety: callable from many Python threads at once (each save is its own); another
// thread that changes a tensor's bytes while a save of it runs changes what is written.
// Failure: ptio::error (ptio.Error: unsafe_global, invalid_argument, io_error naming the file),
// TypeError for an object ptio cannot write, naming the type and its place in the object.
#pragma once

#include <pybind11/pybind11.h>

namespace ptio::python {

void register_save(pybind11::module_& m);

}  // namespace ptio::python
