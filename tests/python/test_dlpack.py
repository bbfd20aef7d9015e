"""ptio.TensorExport through Python's DLPack protocol, against torch.load and real consumers.

numpy.from_dlpack (numpy 1.24) and torch.utils.dlpack.from_dlpack (torch 1.13) both take the
legacy "dltensor" capsule; the versioned one is read here with ctypes, as DLPack 1.x lays it out.
"""

import ctypes
import gc
import os

import numpy as np
import pytest
import torch
import torch.utils.dlpack

import ptio
from conftest import fixture_dir
from real_load import torch_load

export = ptio._ptio._dlpack_export


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32), ("code", ctypes.c_uint8),
                ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p),
                ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


capi = ctypes.pythonapi
capi.PyCapsule_GetName.restype = ctypes.c_char_p
capi.PyCapsule_GetName.argtypes = [ctypes.py_object]
capi.PyCapsule_GetPointer.restype = ctypes.c_void_p
capi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def fixture(name):
    return os.path.join(fixture_dir("PTIO_FIXTURE_DIR"), name)


def raw(t):
    """The elements' bytes in row-major order (any dtype, numpy's missing ones included)."""
    t = t.contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())


def mapped(path):
    with open("/proc/self/maps", encoding="utf-8") as f:
        return any(line.rstrip().endswith((path, path + " (deleted)")) for line in f)


DTYPES = ["float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
          "complex64", "complex128"]


@pytest.mark.parametrize("name", DTYPES)
def test_dtypes_equal_torch_load(name):
    path = fixture("dtypes.pt")
    want = torch_load(path, "zip")[0][name]
    got = torch.utils.dlpack.from_dlpack(export(path, name))
    assert got.dtype == want.dtype and got.shape == want.shape and got.stride() == want.stride()
    assert raw(got) == raw(want)
    if name != "bfloat16":  # numpy has no bfloat16
        arr = np.from_dlpack(export(path, name))
        assert arr.dtype == want.numpy().dtype
        assert arr.tobytes() == want.numpy().tobytes()


@pytest.mark.parametrize("name", ["slice", "row", "column", "transpose", "strided", "narrow",
                                  "flat_tail", "expand"])
def test_views_keep_their_strides_and_offset(name):
    path = fixture("views.pt")
    want = torch_load(path, "zip")[0][name]
    e = export(path, name)
    got = torch.utils.dlpack.from_dlpack(e)
    assert got.shape == want.shape and got.stride() == want.stride()
    assert torch.equal(got, want) and raw(got) == raw(want)
    arr = np.from_dlpack(e)
    assert arr.strides == tuple(s * want.element_size() for s in want.stride())
    assert arr.tobytes() == want.numpy().tobytes()
    # Both are views of the one mapping: the same first element, no copy.
    assert arr.ctypes.data == got.data_ptr()


def test_capsules_versioned_and_legacy():
    path = fixture("views.pt")
    e = export(path, "strided")  # offset 1, shape (2, 2), strides (12, 3)
    cap = e.__dlpack__(max_version=(1, 0))
    assert capi.PyCapsule_GetName(cap) == b"dltensor_versioned"
    m = DLManagedTensorVersioned.from_address(capi.PyCapsule_GetPointer(cap, b"dltensor_versioned"))
    assert (m.major, m.minor) == (1, 1)
    assert m.flags == 0  # a copy-on-write mapping: consumers may write
    t = m.dl_tensor
    assert (t.device_type, t.device_id, t.ndim) == (1, 0, 2)
    assert (t.code, t.bits, t.lanes) == (2, 32, 1)
    assert [t.shape[i] for i in range(2)] == [2, 2]
    assert [t.strides[i] for i in range(2)] == [12, 3]
    assert t.byte_offset == 0  # folded into data, as the protocol asks
    assert ctypes.c_float.from_address(t.data).value == 1.0
    for kw in ({}, {"max_version": None}, {"max_version": (0, 8)}):
        assert capi.PyCapsule_GetName(e.__dlpack__(**kw)) == b"dltensor"

    # bool is DLPack's kDLBool of 8 bits (torch 1.13 and numpy 1.24 predate it and refuse it).
    b = export(fixture("dtypes.pt"), "bool").__dlpack__(max_version=(1, 1))
    bt = DLManagedTensorVersioned.from_address(capi.PyCapsule_GetPointer(b, b"dltensor_versioned")).dl_tensor
    assert (bt.code, bt.bits, bt.lanes) == (6, 8, 1)


def test_properties():
    e = export(fixture("views.pt"), "column")
    assert isinstance(e, ptio.TensorExport)
    assert e.__dlpack_device__() == (1, 0)
    assert e.shape == (4,) and e.dtype == "float32" and e.device == "cpu"
    assert e.readonly is False
    assert repr(e) == "ptio.TensorExport(dtype=float32, shape=(4,), device=cpu, readonly=False)"


def test_owner_outlives_the_file_and_every_capsule_frees(tmp_path):
    path = os.fspath(tmp_path / "gone.pt")
    torch.save({"w": torch.arange(12.0).reshape(3, 4).t()}, path)
    want = torch.arange(12.0).reshape(3, 4).t().clone()
    e = export(path, "w")
    os.remove(path)
    consumed = torch.utils.dlpack.from_dlpack(e)
    unconsumed = e.__dlpack__(max_version=(1, 0))
    del e
    gc.collect()
    assert mapped(path)
    assert torch.equal(consumed, want)
    del unconsumed  # never taken: its destructor frees its export
    gc.collect()
    assert mapped(path)  # the consumer's tensor still holds the mapping
    consumed[0, 0] = -1.0  # a private mapping: writable, and the file is gone anyway
    del consumed
    gc.collect()
    assert not mapped(path)


def test_writes_stay_in_the_private_mapping(tmp_path):
    path = os.fspath(tmp_path / "w.pt")
    torch.save({"w": torch.zeros(8)}, path)
    with open(path, "rb") as f:
        before = f.read()
    t = torch.utils.dlpack.from_dlpack(export(path, "w"))
    t += 5
    with open(path, "rb") as f:
        assert f.read() == before
    assert torch.equal(torch.utils.dlpack.from_dlpack(export(path, "w")), torch.zeros(8))


def test_refusals():
    with pytest.raises(ptio.Error) as info:
        export(fixture("quantized.pt"), "qint8")
    assert info.value.code == "invalid_argument" and "qint8" in str(info.value)
    conj = os.path.join(fixture_dir("PTIO_TORCH2_DIR"), "conj.pt")
    with pytest.raises(ptio.Error, match="conjugated"):
        export(conj, "z_conj")
    with pytest.raises(ptio.Error) as info:
        export(fixture("views.pt"), "no_such_tensor")
    assert info.value.code == "not_found"
    e = export(fixture("views.pt"), "base")
    with pytest.raises(BufferError):
        e.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError):
        e.__dlpack__(copy=True)
    assert capi.PyCapsule_GetName(e.__dlpack__(dl_device=(1, 0), copy=False)) == b"dltensor"
