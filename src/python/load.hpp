// load.hpp — ptio._ptio.load and what ptio.open shares with it: a file or bytes loaded onto
// devices as a ptio::loaded, with Python's map_location forms and progress callback, the GIL
// released while ptio reads, parses and copies.
//
// Thread-safety: callable from many Python threads at once (each load is its own). Failure:
// ptio::error, or the Python exception a map_location callable or progress callback raised.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include <ptio/load.hpp>

#include "python/torch_tensors.hpp"

namespace ptio::python {

/// What ptio._load hands over: `source` is a str path or a bytes-like object; `where` None, a
/// str, a dict of str → str, or a callable(key, nbytes, dtype name, saved tag) → str | None;
/// `progress` None or a callable(done, total) → bool | None (False cancels).
struct load_request {
    pybind11::object source;
    pybind11::object where;
    bool weights_only = false;
    bool mmap = true;
    pybind11::object progress;
};

/// A checkpoint opened for Python, then either placed by ptio::load or, where every storage
/// stays on the CPU as a view (a copy-on-write mapping, or bytes ptio owns), kept as it is:
/// such a load needs no staging at all.
struct python_load {
    std::shared_ptr<const ptio::loaded> loaded;          // staged, or
    std::shared_ptr<const ptio::checkpoint> checkpoint;  // CPU views of the checkpoint

    [[nodiscard]] const ptio::checkpoint& source() const { return loaded ? loaded->source() : *checkpoint; }
    /// The builder of this load's torch tensors (all lent writable: see load_source).
    [[nodiscard]] torch_tensors tensors() const;
};

/// Open the source with the GIL released: a path as a private copy-on-write mapping, a
/// bytes-like object copied once into memory ptio owns.
[[nodiscard]] std::shared_ptr<ptio::checkpoint> open_source(const pybind11::object& source,
                                                            const ptio::open_options& options);

/// Open and place everything; returns with the GIL held. CPU storages are copy-on-write views
/// of the file (mmap, a path), views of ptio's own copy of the bytes (a bytes-like source), or
/// owned copies (mmap=False).
[[nodiscard]] python_load load_source(const load_request& r);

void register_load(pybind11::module_& m);

}  // namespace ptio::python
