// load.cpp — from Python's arguments to ptio::load and back. Python callbacks run on ptio's
// loading threads: each takes the GIL for its call, and an exception it raises is kept and
// re-raised in the caller's thread once the load has stopped.
#include "python/load.hpp"

#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "python/to_python.hpp"
#include "python/torch_tensors.hpp"

namespace py = pybind11;

namespace ptio::python {
namespace {

// The first exception a Python callback raised during a load.
class callback_failure {
public:
    void keep() {
        std::lock_guard lock(mutex_);
        if (!first_) first_ = std::current_exception();
    }
    void rethrow_if_any() {
        std::lock_guard lock(mutex_);
        if (first_) std::rethrow_exception(first_);
    }

private:
    std::mutex mutex_;
    std::exception_ptr first_;
};

ptio::map_location where_from(const py::object& where, callback_failure& failure) {
    if (where.is_none()) return {};
    if (py::isinstance<py::str>(where)) return ptio::map_location(where.cast<std::string>());
    if (py::isinstance<py::dict>(where)) {
        ptio::map_location::tag_map tags;
        for (auto [k, v] : where.cast<py::dict>()) tags.emplace(py::str(k), py::str(v));
        return ptio::map_location(std::move(tags));
    }
    // A callable; borrowed: the caller's frame keeps it alive for the whole load.
    py::handle fn = where;
    return ptio::map_location([fn, &failure](const ptio::storage_info& s, std::string_view tag)
                                  -> std::optional<ptio::device> {
        py::gil_scoped_acquire gil;
        try {
            py::object r = fn(py::str(std::string(s.key)), py::int_(s.nbytes),
                              py::str(std::string(name(s.dtype))), py::str(std::string(tag)));
            if (r.is_none()) return std::nullopt;
            return ptio::device::parse(r.cast<std::string>());
        } catch (const ptio::error&) {
            throw;
        } catch (...) {
            failure.keep();
            throw ptio::error(errc::cancelled, "the map_location callable raised");
        }
    });
}

// What a progress callback's answer means: None or true go on.
bool goes_on(const py::object& answer) { return answer.is_none() || answer.cast<bool>(); }

std::vector<std::byte> bytes_of(const py::object& source) {
    py::buffer_info info = py::buffer(source).request();
    const auto n = static_cast<std::size_t>(info.size * info.itemsize);
    std::vector<std::byte> out(n);
    py::gil_scoped_release unlocked;
    if (n) std::memcpy(out.data(), info.ptr, n);
    return out;
}

}  // namespace

torch_tensors python_load::tensors() const {
    return loaded ? torch_tensors(loaded, true) : torch_tensors(checkpoint, true);
}

std::shared_ptr<ptio::checkpoint> open_source(const py::object& source, const ptio::open_options& options) {
    if (py::isinstance<py::str>(source)) {
        const std::string path = source.cast<std::string>();
        ptio::open_options cow = options;
        cow.copy_on_write = true;
        py::gil_scoped_release unlocked;
        return std::make_shared<ptio::checkpoint>(ptio::checkpoint::open(path, cow));
    }
    std::vector<std::byte> bytes = bytes_of(source);
    py::gil_scoped_release unlocked;
    return std::make_shared<ptio::checkpoint>(ptio::checkpoint::open(std::move(bytes), options, "<bytes>"));
}

namespace {

// True when every storage would land on the CPU as a view: then the checkpoint's own bytes
// serve, and the staging engine (its plan, its slots) is not needed. Each storage is located
// here (its local header read), with the GIL released, rather than while tensors are built.
bool stays_on_cpu(const py::object& where, const ptio::checkpoint& ck) {
    const bool to_cpu = py::isinstance<py::str>(where) && where.cast<std::string>() == "cpu";
    if (!to_cpu && !where.is_none()) return false;
    py::gil_scoped_release unlocked;
    for (const auto& t : ck.tensors()) {
        if (!t.tensor->view().has_data()) continue;
        if (!to_cpu && t.tensor->location() != "cpu") return false;
        (void)t.tensor->view().storage_bytes();
    }
    return true;
}

}  // namespace

python_load load_source(const load_request& r) {
    callback_failure failure;
    ptio::load_options options;
    options.open.weights_only = r.weights_only;
    options.cpu = r.mmap ? cpu_placement::view : cpu_placement::copy;
    bool reported = false;
    if (!r.progress.is_none()) {
        // borrowed, as above. A False (or a raise) cancels: the staging engine then calls no
        // more and fails the load, even where the last pieces were already in flight.
        py::handle fn = r.progress;
        options.progress = [fn, &failure, &reported](std::uint64_t done, std::uint64_t total) {
            py::gil_scoped_acquire gil;
            reported = true;
            try {
                return goes_on(fn(done, total));
            } catch (...) {
                failure.keep();
                return false;
            }
        };
    }
    const ptio::map_location where = where_from(r.where, failure);
    python_load out;
    try {
        std::shared_ptr<ptio::checkpoint> ck = open_source(r.source, options.open);
        if (r.mmap && stays_on_cpu(r.where, *ck)) {
            out.checkpoint = std::move(ck);
        } else {
            // The mapping is private and the bytes ptio's own, so its views may be lent writable.
            if (options.cpu == cpu_placement::view && ck->is_copy_on_write()) options.cpu = cpu_placement::copy_on_write;
            py::gil_scoped_release unlocked;
            out.loaded = std::make_shared<const ptio::loaded>(ptio::load(std::move(*ck), where, options));
        }
    } catch (...) {
        failure.rethrow_if_any();  // the callback's own exception, not the cancel it caused
        throw;
    }
    // A load of views moves nothing, so the callback has not heard from it: it finished.
    if (!r.progress.is_none() && !reported) {
        const std::uint64_t moved = out.loaded ? out.loaded->bytes_to_move() : 0;
        if (!goes_on(r.progress(moved, moved)))
            throw ptio::error(errc::cancelled, out.source().file(), "", std::nullopt,
                              "the progress callback returned False");
    }
    return out;
}

void register_load(py::module_& m) {
    m.def(
        "load",
        [](py::object source, py::object where, bool weights_only, bool mmap, py::object progress) {
            const python_load loaded =
                load_source({std::move(source), std::move(where), weights_only, mmap, std::move(progress)});
            torch_tensors tensors = loaded.tensors();
            return to_python(tensors)(loaded.source().root());
        },
        py::arg("source"), py::arg("where"), py::arg("weights_only"), py::arg("mmap"), py::arg("progress"),
        "Load a checkpoint (see ptio.load, which normalizes the arguments).");
}

}  // namespace ptio::python
