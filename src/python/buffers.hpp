// buffers.hpp — host bytes lent to Python through the buffer protocol, kept alive by an owner.
//
// A host_buffer is a pybind11 class (ptio._ptio._HostBuffer) over [data, data + size) that
// holds a shared reference to whatever owns those bytes (a ptio::loaded: its mapping or its
// copies). torch.frombuffer keeps the buffer object, hence the owner, alive for as long as any
// tensor uses the storage made from it, so a mapping outlives every tensor over it (and the
// file's deletion).
//
// Thread-safety: immutable after construction. The owner is released when Python frees the
// object (with the GIL held); owners never hold Python objects, so releasing them needs no GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <memory>

namespace ptio::python {

struct host_buffer {
    std::shared_ptr<const void> owner;
    std::byte* data = nullptr;
    std::size_t size = 0;
    bool writable = false;
};

void register_buffers(pybind11::module_& m);

/// A new buffer object over the bytes (a Python object of the registered class).
[[nodiscard]] pybind11::object make_host_buffer(host_buffer b);

}  // namespace ptio::python
