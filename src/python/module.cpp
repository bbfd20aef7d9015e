// module.cpp — the extension module ptio._ptio: each part registers its own functions and
// classes. The plain-Python package (ptio/__init__.py) is the public face; nothing here is
// meant to be called directly.
#include <pybind11/pybind11.h>

#include <ptio/device.hpp>
#include <ptio/version.hpp>

#include "python/buffers.hpp"
#include "python/dlpack_export.hpp"
#include "python/errors.hpp"
#include "python/load.hpp"
#include "python/open.hpp"
#include "python/save.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_ptio, m) {
    m.doc() = "ptio's C++ core: reads torch.save files without running them";
    m.attr("__version__") = ptio::version_string;
    m.def("built_with_cuda", &ptio::built_with_cuda, "True when ptio was built with the CUDA runtime.");
    m.def("cuda_device_count", &ptio::cuda_device_count, "CUDA devices ptio can use now.");
    ptio::python::register_errors(m);
    ptio::python::register_buffers(m);
    ptio::python::register_load(m);
    ptio::python::register_open(m);
    ptio::python::register_dlpack(m);
    ptio::python::register_save(m);
}
