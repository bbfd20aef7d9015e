"""Loading a real file with torch 1.13 without running anything the file names.

Part of real_files.py (its docstring, step 1): torch.load(weights_only=True) first; else torch's
own zip and legacy readers with SafeUnpickler, which allows only torch's rebuild functions,
storage classes and dtypes, collections, builtins containers and numpy's array reconstruction,
and turns every other class into a Stub without importing anything; check_stub_loader() proves
on this torch, with a canary, that the stub path calls nothing.
"""

import _compat_pickle
import io
import pickle
import types
import warnings
import zipfile

import torch


class Stub:
    """An instance of a class the file names, never imported: its arguments and state."""

    _ptio_global = "?"

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        object.__setattr__(self, "_ptio_args", args)
        # NEWOBJ_EX keyword arguments: ptio keeps them as the state until a BUILD replaces it
        object.__setattr__(self, "_ptio_state", dict(kwargs) if kwargs else None)
        object.__setattr__(self, "_ptio_items", [])
        object.__setattr__(self, "_ptio_entries", [])
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        object.__setattr__(self, "_ptio_state", state)

    def append(self, item):
        self._ptio_items.append(item)

    def extend(self, items):
        self._ptio_items.extend(items)

    def __setitem__(self, key, value):
        self._ptio_entries.append((key, value))

    def __call__(self, *args):  # REDUCE of a stub instance: another call not made
        return type(self)(*args)

    def __repr__(self):
        return f"<stub {self._ptio_global}>"


_stub_classes = {}


def stub_class(module, name):
    key = (module, name)
    if key not in _stub_classes:
        # __module__ names no real module, so nothing (inspect included) goes looking for one
        _stub_classes[key] = type(str(name), (Stub,), {"_ptio_global": f"{module}.{name}",
                                                       "__module__": "ptio_stub"})
    return _stub_classes[key]


def _rebuild_from_type(func, new_type, args, dict):
    """torch._tensor._rebuild_from_type without as_subclass to a class the file names."""
    ret = func(*args)
    if isinstance(new_type, type) and issubclass(new_type, Stub):
        return ret  # ptio keeps the inner tensor too
    return torch._tensor._rebuild_from_type(lambda *a: ret, new_type, (), dict)


def _rebuild_from_type_v2(func, new_type, args, state):
    ret = func(*args)
    if isinstance(new_type, type) and issubclass(new_type, Stub):
        # ptio: an object of origin "subclass", the tensor its argument, the attributes its
        # state (none when there are none)
        obj = new_type(ret)
        object.__setattr__(obj, "_ptio_subclass", True)
        if state:
            obj.__setstate__(state)
        return obj
    return torch._tensor._rebuild_from_type_v2(lambda *a: ret, new_type, (), state)


# torch.Tensor's typed ancestors: the old reducer pickled a tensor as FloatTensor() + BUILD,
# which makes an empty tensor and set_()s it onto the storage (torch's allowlist has them).
LEGACY_TENSOR_TYPES = {"DoubleTensor", "FloatTensor", "HalfTensor", "BFloat16Tensor", "LongTensor",
                       "IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"}


def _getattr(target, name):
    """builtins.getattr, never looked up: of a stub class, the stub of the nested class (as ptio
    names an instance of module.Outer.Inner); otherwise the call, not made, as a stub."""
    if isinstance(target, type) and issubclass(target, Stub) and isinstance(name, str):
        module, _, qualname = target._ptio_global.rpartition(".")
        return stub_class(module, f"{qualname}.{name}")
    return stub_class("builtins", "getattr")(target, name)


def _torch_global(name):
    value = getattr(torch, name, None)
    return value is not None and (name in LEGACY_TENSOR_TYPES or
        isinstance(value, (torch.dtype, torch.layout, torch.memory_format))
        or any(value is c for c in (torch.Size, torch.Tensor, torch.device))
        or (isinstance(value, type) and issubclass(value, (torch.storage.TypedStorage,
                                                             torch.UntypedStorage))))


ALLOWED = {
    "collections": {"OrderedDict", "defaultdict", "Counter"},
    "builtins": {"dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "complex",
                 "slice", "range", "int", "float", "str", "bool"},
    "_codecs": {"encode"},
    "torch.nn.parameter": {"Parameter"},
    "torch.serialization": {"_get_layout"},
    "torch.storage": {"TypedStorage", "UntypedStorage"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy": {"ndarray", "dtype"},
}
REPLACED = {("builtins", "getattr"): _getattr,
            ("torch._tensor", "_rebuild_from_type"): _rebuild_from_type,
            ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2}


def python3_name(module, name):
    """The module and name Python 3 resolves a Python 2 global to (__builtin__, copy_reg)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    if module.startswith("numpy._core"):  # numpy 2 pickles, read by numpy 1
        module = "numpy.core" + module[len("numpy._core"):]
    return module, name


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        real_module, real_name = python3_name(module, name)
        if (real_module, real_name) in REPLACED:
            return REPLACED[(real_module, real_name)]
        allowed = real_name in ALLOWED.get(real_module, ()) or \
            (real_module == "torch" and _torch_global(real_name)) or \
            (real_module == "torch._utils" and real_name.startswith("_rebuild_"))
        if allowed:
            return super().find_class(real_module, real_name)
        return stub_class(real_module, real_name)


def _safe_load(file, **kwargs):
    return SafeUnpickler(file, **kwargs).load()


safe_pickle = types.ModuleType("ptio_safe_pickle")
safe_pickle.Unpickler = SafeUnpickler
safe_pickle.load = _safe_load
safe_pickle.UnpicklingError = pickle.UnpicklingError


WEIGHTS_ONLY_PREAMBLE = ("Weights only load failed. Re-running `torch.load` with `weights_only` "
                         "set to `False` will likely succeed, but it can result in arbitrary code "
                         "execution.Do it only if you get the file from a trusted source. "
                         "WeightsUnpickler error: ")


def failure_text(e):
    text = f"{type(e).__name__}: {e}".strip()
    text = text.replace("\n", " ")
    return text if len(text) <= 240 else text[:237] + "..."


def is_torchscript(path):
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith(("/constants.pkl", "/model.json")) or n == "model.json"
                       for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_with_stubs(file):
    """torch.load's zip and legacy readers with SafeUnpickler as the pickle module.

    Not torch.load(pickle_module=...): torch 1.13's torch.load replaces any pickle_module with
    the standard pickle unless weights_only is set, which would run what the file names."""
    serialization = torch.serialization
    if serialization._is_zipfile(file):
        with serialization._open_zipfile_reader(file) as archive:
            if serialization._is_torchscript_zip(archive):
                raise pickle.UnpicklingError("a TorchScript archive")
            return serialization._load(archive, "cpu", safe_pickle, encoding="utf-8")
    return serialization._legacy_load(file, "cpu", safe_pickle, encoding="utf-8")


def canary_reached():
    raise AssertionError("the stub unpickler called a function a file named")


class Canary:
    def __reduce__(self):
        return canary_reached, ()


def check_stub_loader():
    """Prove, on this torch, that the stub path calls nothing: a file that names a function
    must come back with a stub in its place, in both formats."""
    for zip_format in (True, False):
        buffer = io.BytesIO()
        torch.save({"canary": Canary(), "t": torch.ones(2)}, buffer,
                   _use_new_zipfile_serialization=zip_format)
        buffer.seek(0)
        loaded = load_with_stubs(buffer)
        assert isinstance(loaded["canary"], Stub), f"the canary came back as {loaded['canary']!r}"
        assert torch.equal(loaded["t"], torch.ones(2))


def torch_load(path, kind):
    """(object, how it was loaded, None) or (None, None, why torch could not load it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "torchscript" or is_torchscript(path):
            try:
                return torch.jit.load(path, map_location="cpu"), "jit.load", None
            except Exception as e:  # noqa: BLE001 - anything torch raises is the answer
                return None, None, "jit.load: " + failure_text(e)
        try:
            return torch.load(path, map_location="cpu", weights_only=True), "weights_only", None
        except Exception as e:  # noqa: BLE001
            first = "weights_only=True: " + failure_text(e).replace(WEIGHTS_ONLY_PREAMBLE, "")
        try:
            with open(path, "rb") as f:
                return load_with_stubs(f), "stubs", None
        except Exception as e:  # noqa: BLE001
            return None, None, first + " | stub unpickler: " + failure_text(e)
