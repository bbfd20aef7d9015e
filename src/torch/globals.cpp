// The globals table: Python's compat renames, the callables refused as unsafe, and the
// globals torch's loaders act on, each with whether weights_only would accept it.
#include "torch/globals.hpp"

#include <array>

#include "ptio/dtype.hpp"

namespace ptio::detail::torch {
namespace {

struct rename {
    std::string_view from, to;
};
// Python 2 names and torch's own module moves.
constexpr std::array<rename, 5> module_renames{{
    {"__builtin__", "builtins"},
    {"copy_reg", "copyreg"},
    {"torch.tensor", "torch._tensor"},
    {"numpy._core.multiarray", "numpy.core.multiarray"},
    {"exceptions", "builtins"},
}};

// Modules whose globals exist to run code, load other pickles, or touch the system. No
// checkpoint needs them; a file that names them is an attack, and saying so beats quietly
// keeping an object. Whole modules, since one harmless-looking name (cProfile.run,
// pydoc.pipepager, timeit.timeit, pkgutil.resolve_name) is enough to run a string as code.
constexpr std::string_view unsafe_modules[] = {
    "os", "posix", "nt", "sys", "subprocess", "_posixsubprocess", "pty", "shutil", "socket",
    "runpy", "importlib", "ctypes", "_ctypes", "code", "codeop", "pdb", "bdb", "webbrowser",
    "multiprocessing", "commands", "popen2", "platform", "marshal", "asyncio", "cProfile",
    "profile", "_lsprof", "pydoc", "timeit", "pkgutil", "trace", "doctest", "idlelib",
    "_thread", "io", "_io", "linecache", "logging.config", "zipimport", "site",
    "ensurepip", "venv", "distutils", "setuptools", "pip", "ftplib", "smtplib", "telnetlib",
    "http", "urllib", "xmlrpc", "_osx_support", "_aix_support", "_pyrepl", "operator",
    "_operator", "tempfile",
};
constexpr std::string_view unsafe_builtins[] = {
    "eval", "exec", "execfile", "compile", "__import__", "setattr", "delattr",
    "open", "input", "breakpoint", "globals", "locals", "vars", "apply", "file", "reload",
    "help", "exit", "quit", "__build_class__", "memoryview",
};
// Loaders of other pickles and of code: a nested torch.load or _load_from_bytes runs the
// unrestricted unpickler on bytes this file chose; cpp_extension and inductor compile and run
// code; fx's graph modules are rebuilt through exec. (functools.partial stays an unknown
// global, not refused: configs pickle it, and it calls only what else the file names.)
constexpr std::string_view unsafe_loader_modules[] = {
    "pickle", "_pickle", "dill", "cloudpickle", "shelve",
    "torch.hub", "torch.package", "torch.utils.cpp_extension", "torch._inductor",
    "torch._dynamo", "torch.fx", "torch.multiprocessing", "numpy.testing", "numpy.f2py",
};
struct name_in_module {
    std::string_view module, name;
};
constexpr name_in_module unsafe_names[] = {
    {"torch", "load"},
    {"torch.serialization", "load"},
    {"torch.serialization", "_load"},
    {"torch.serialization", "_legacy_load"},
    {"torch.storage", "_load_from_bytes"},
    {"torch.jit", "load"},
    {"torch.jit._serialization", "load"},
    {"torch", "_load_global_deps"},
    {"torch._C", "_load_for_lite_interpreter"},
    {"numpy", "load"},
    {"numpy.lib.npyio", "load"},
    {"uuid", "_get_command_stdout"},  // uuid.UUID itself is harmless and found in checkpoints
    {"uuid", "_popen"},
};

bool module_in(std::string_view module, std::string_view root) {
    return module == root || (module.size() > root.size() && module.starts_with(root) &&
                              module[root.size()] == '.');
}

// weights_only: in torch's allowlist (torch/_weights_only_unpickler.py, _get_allowed_globals).
// inert: not there, but ptio writes it for a container of its own and it runs no code of the
// file's choosing (frozenset of a list, defaultdict without a factory, protocol 1's bytes()).
struct known_row {
    std::string_view module, name;
    known tag;
    bool weights_only;
    bool inert = false;
};
constexpr std::array<known_row, 46> known_rows{{
    {"builtins", "bytes", known::bytes_, false, true},
    {"collections", "OrderedDict", known::ordered_dict, true},
    {"collections", "Counter", known::counter, true},
    {"collections", "defaultdict", known::defaultdict, false, true},
    {"_codecs", "encode", known::codecs_encode, true},
    {"builtins", "bytearray", known::bytearray, true},
    {"builtins", "set", known::set, true},
    {"builtins", "frozenset", known::frozenset, false, true},
    {"builtins", "complex", known::none, true},
    {"torch", "Size", known::torch_size, true},
    {"torch", "device", known::none, true},
    // getattr(target, "name") stays one more opaque object: ptio never calls it, and a
    // target that runs code is refused where the file names it. Not weights_only.
    {"builtins", "getattr", known::none, false},
    {"torch", "Tensor", known::tensor_class, true},
    {"torch._tensor", "Tensor", known::tensor_class, false, true},  // torch's list has it as torch.Tensor
    {"torch.nn.parameter", "Parameter", known::parameter_class, true},
    {"torch.serialization", "_get_layout", known::none, true},
    {"torch._utils", "_rebuild_tensor", known::rebuild_tensor, true},
    {"torch._utils", "_rebuild_tensor_v2", known::rebuild_tensor_v2, true},
    {"torch._utils", "_rebuild_tensor_v3", known::rebuild_tensor_v3, true},
    {"torch._utils", "_rebuild_parameter", known::rebuild_parameter, true},
    {"torch._utils", "_rebuild_parameter_with_state", known::rebuild_parameter_with_state, true},
    {"torch._utils", "_rebuild_qtensor", known::rebuild_qtensor, true},
    {"torch._utils", "_rebuild_meta_tensor_no_storage", known::rebuild_meta_tensor_no_storage, true},
    {"torch._utils", "_rebuild_sparse_tensor", known::none, true},
    {"torch._utils", "_rebuild_sparse_csr_tensor", known::none, false},
    {"torch._utils", "_rebuild_nested_tensor", known::none, false},
    {"torch._utils", "_rebuild_wrapper_subclass", known::none, true},
    {"torch._utils", "_rebuild_device_tensor_from_numpy", known::rebuild_device_tensor_from_numpy, true},
    {"torch._utils", "_rebuild_xla_tensor", known::none, false},
    {"torch._utils", "_rebuild_device_tensor_from_cpu_tensor", known::none, true},
    {"torch._tensor", "_rebuild_from_type", known::rebuild_from_type, false},
    {"torch._tensor", "_rebuild_from_type_v2", known::rebuild_from_type_v2, true},
    {"torch.nested._internal.nested_tensor", "_rebuild_njt", known::none, false},
    {"numpy.core.multiarray", "_reconstruct", known::numpy_reconstruct, false},
    {"numpy.core.multiarray", "scalar", known::numpy_scalar, false},
    {"numpy", "ndarray", known::none, false},
    {"numpy", "dtype", known::numpy_dtype, false},
    // torch's allowlist has them under their own module, torch.storage, only.
    {"torch", "TypedStorage", known::storage_class, false},
    {"torch", "UntypedStorage", known::storage_class, false},
    {"torch.storage", "TypedStorage", known::storage_class, true},
    {"torch.storage", "UntypedStorage", known::storage_class, true},
    // TorchScript pickles; torch.load's weights_only refuses TorchScript.
    {"torch.jit._pickle", "build_intlist", known::jit_container, false},
    {"torch.jit._pickle", "build_tensorlist", known::jit_container, false},
    {"torch.jit._pickle", "build_doublelist", known::jit_container, false},
    {"torch.jit._pickle", "build_boollist", known::jit_container, false},
    {"torch.jit._pickle", "restore_type_tag", known::jit_container, false},
}};

constexpr std::array<std::string_view, 5> qschemes{{
    "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
    "per_channel_affine_float_qparams",
}};
constexpr std::array<std::string_view, 10> legacy_tensor_types{{
    "DoubleTensor", "FloatTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
    "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
}};

}  // namespace

global_info classify(std::string_view module_in_file, std::string_view name) {
    global_info g;
    g.module = std::string(module_in_file);
    for (const auto& r : module_renames)
        if (module_in(g.module, r.from)) g.module = std::string(r.to) + g.module.substr(r.from.size());
    g.name = std::string(name);
    const std::string_view m = g.module;

    for (auto u : unsafe_modules)
        if (module_in(m, u)) g.unsafe = true;
    for (auto u : unsafe_loader_modules)
        if (module_in(m, u)) g.unsafe = true;
    for (const auto& u : unsafe_names)
        if (m == u.module && name == u.name) g.unsafe = true;
    if (m == "builtins")
        for (auto u : unsafe_builtins)
            if (name == u) g.unsafe = true;
    if (g.unsafe) return g;

    for (const auto& r : known_rows) {
        if (r.module == m && r.name == name) {
            g.tag = r.tag;
            g.weights_only_ok = r.weights_only;
            g.inert = r.inert;
            if (r.tag == known::storage_class) g.aux = static_cast<std::uint16_t>(dtype::uint8);
            if (r.tag == known::tensor_class) g.aux = static_cast<std::uint16_t>(dtype::float32);  // torch.Tensor()
            return g;
        }
    }
    if (module_in(m, "torch") && name.ends_with("Storage")) {
        // Storage classes match by name alone, whatever the module.
        g.tag = known::storage_class;
        const auto t = dtype_from_storage_class(name);
        g.aux = t ? static_cast<std::uint16_t>(*t) : unknown_dtype;
        g.weights_only_ok = t.has_value() && (m == "torch" || m == "torch.cuda" || m == "torch.storage");
        return g;
    }
    if (m == "torch") {
        if (auto t = dtype_from_name(name)) {
            g.tag = known::dtype_global;
            g.aux = static_cast<std::uint16_t>(*t);
            g.weights_only_ok = true;
            return g;
        }
        for (auto q : qschemes)
            if (name == q) {
                g.weights_only_ok = true;
                return g;
            }
        // torch.uint1…7 / int1…7: allowlisted shell dtypes with no storage layout.
        const bool sub_byte = (name.size() == 5 && name.starts_with("uint")) ||
                              (name.size() == 4 && name.starts_with("int"));
        if (sub_byte && name.back() >= '1' && name.back() <= '7') g.weights_only_ok = true;
    }
    if ((m == "torch" || m == "torch.cuda" || m == "torch.sparse" || m == "torch.cuda.sparse"))
        for (auto t : legacy_tensor_types)
            if (name == t) {
                g.weights_only_ok = true;
                g.tag = known::tensor_class;  // FloatTensor is the tensor of FloatStorage
                const auto e = dtype_from_storage_class(std::string(name.substr(0, name.size() - 6)) + "Storage");
                g.aux = e ? static_cast<std::uint16_t>(*e) : unknown_dtype;
            }
    return g;
}

bool unsafe_getattr(std::string_view target, std::string_view attr) {
    if (attr.size() > 4 && attr.starts_with("__") && attr.ends_with("__")) return true;
    for (auto u : unsafe_modules)
        if (attr == u) return true;
    for (auto u : unsafe_loader_modules)
        if (attr == u) return true;
    return classify(target, attr).unsafe;
}

}  // namespace ptio::detail::torch
