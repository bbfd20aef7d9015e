"""Walking torch's result the way ptio names tensors (real_files.py's docstring, step 2).

Records hold name, dtype, shape, stride, storage_offset and sha256 (elements in row-major
order, as tests/fixtures/make_fixtures.py), as ptio ls --json --hash lists them.
"""

import hashlib
import inspect
import os
import sys
import zipfile

import numpy
import torch

from real_load import Stub

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

from make_fixtures import sha256_of  # noqa: E402


def key_text(key):
    return key if isinstance(key, str) else repr(key)


def record(name, dtype, shape, stride, offset, sha):
    return {"name": name, "dtype": dtype, "shape": list(shape), "stride": list(stride),
            "storage_offset": offset, "sha256": sha}


def tensor_record(name, t, swapped=False):
    dtype = str(t.dtype).removeprefix("torch.")
    if t.layout != torch.strided or t.is_meta:
        # no elements to hash (meta) or no strides (sparse): compare what there is
        stride = list(t.stride()) if t.layout == torch.strided else []
        return record(name, dtype, t.shape, stride, t.storage_offset() if stride else 0, None)
    r = record(name, dtype, t.shape, t.stride(), t.storage_offset(), sha256_of(t))
    if swapped:
        r["sha256_swapped"] = sha256_byteswapped(t)
    return r


def sha256_byteswapped(t):
    """sha256 of the elements with each element's bytes reversed (complex: each half)."""
    t = t.detach()
    if t.is_quantized:
        t = t.int_repr()
    size = t.element_size() // (2 if t.is_complex() else 1)
    raw = t.contiguous().reshape(-1).view(torch.uint8).numpy()
    return hashlib.sha256(raw.reshape(-1, size)[:, ::-1].tobytes()).hexdigest()


# torch 1.13 ignores the byteorder record (torch 2.x reads it): it hands out a big-endian file's
# elements unswapped. Such files are still MISMATCH; the line says whether ptio's elements are
# torch's byte-swapped, i.e. what a torch that honours the record reads.
TORCH_READS_BYTEORDER = "byteorder" in inspect.getsource(torch.serialization._load)


def byteorder_record(path):
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.count("/") == 1 and n.endswith("/byteorder")]
            return z.read(names[0]).decode("ascii", "replace").strip() if names else None
    except (zipfile.BadZipFile, OSError, KeyError):
        return None


def storage_record(name, s, swapped=False):
    if isinstance(s, torch.storage.TypedStorage):
        t = torch.empty(0, dtype=s.dtype)
    else:
        t = torch.empty(0, dtype=torch.uint8)
    t.set_(s)
    return tensor_record(name, t, swapped)


NUMPY_DTYPES = {"f8": "float64", "f4": "float32", "f2": "float16", "i8": "int64",
                "i4": "int32", "i2": "int16", "i1": "int8", "u1": "uint8", "b1": "bool",
                "c8": "complex64", "c16": "complex128", "u2": "uint16", "u4": "uint32",
                "u8": "uint64"}


def numpy_record(name, a):
    dtype = NUMPY_DTYPES.get(f"{a.dtype.kind}{a.dtype.itemsize}")
    if dtype is None:
        return None  # object, string and record arrays hold no tensor
    little = numpy.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False)
    sha = hashlib.sha256(little.tobytes()).hexdigest()
    stride = [s // a.itemsize for s in a.strides] if a.itemsize else [0] * a.ndim
    return record(name, dtype, a.shape, stride, 0, sha)


class Walker:
    def __init__(self, swapped=False):
        self.swapped = swapped
        self.found = []
        self.stubs = 0  # objects whose naming torch and ptio may see differently
        self.on_path = set()

    def walk(self, obj, path):
        name = ".".join(path)
        if isinstance(obj, torch.Tensor):
            self.found.append(tensor_record(name, obj, self.swapped))
        elif isinstance(obj, (torch.storage.TypedStorage, torch.UntypedStorage)):
            self.found.append(storage_record(name, obj, self.swapped))
        elif isinstance(obj, numpy.ndarray):
            r = numpy_record(name, obj)
            if r:
                self.found.append(r)
        elif isinstance(obj, dict):
            self.container(obj, path, [(key_text(k), v) for k, v in obj.items()])
        elif isinstance(obj, (list, tuple, set, frozenset)):
            self.container(obj, path, [(str(i), v) for i, v in enumerate(obj)])
        elif isinstance(obj, Stub):
            self.stubs += 1
            if id(obj) in self.on_path:
                return
            self.on_path.add(id(obj))
            if getattr(obj, "_ptio_subclass", False):  # a tensor subclass: its tensor is here
                self.walk(obj._ptio_args[0], path)
            else:
                self.walk(obj._ptio_args, path + ["__args__"])
            self.walk(obj._ptio_state, path)
            for i, v in enumerate(obj._ptio_items):
                self.walk(v, path + [str(i)])
            for k, v in obj._ptio_entries:
                self.walk(v, path + [key_text(k)])
            self.on_path.discard(id(obj))

    def container(self, obj, path, children):
        if id(obj) in self.on_path:  # a cycle: ptio does not enter it again
            return
        self.on_path.add(id(obj))
        for key, value in children:
            self.walk(value, path + [key])
        self.on_path.discard(id(obj))


def torch_tensors(obj, how, swapped):
    """(tensor records, whether names may legitimately differ)."""
    if how == "jit.load":
        return [tensor_record(k, v, swapped) for k, v in obj.state_dict().items()], True
    w = Walker(swapped)
    w.walk(obj, [])
    return w.found, w.stubs > 0
