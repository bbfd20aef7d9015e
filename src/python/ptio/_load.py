"""ptio.load: torch.load's answer, from ptio's reader, with no pickle code run."""

import io
import os
import sys

import torch

from . import _ptio

__all__ = ["load", "StorageInfo"]


class StorageInfo:
    """What a map_location callable is given in place of torch's CPU storage.

    ptio builds no CPU storage before it knows where each one goes, so the callable's first
    argument describes the storage instead: ``key`` (its record, "data/<key>"), ``nbytes``,
    ``dtype`` (a torch.dtype; torch.uint8 for untyped storages) and ``location`` (the saved
    tag, also the second argument). torch.load's usual callables work unchanged: return the
    argument itself (or None) to keep the default placement of a CPU storage, or
    ``storage.cuda(i)``, ``storage.cpu()``, ``storage.to(device)``, a device string or a
    torch.device to send it there.
    """

    __slots__ = ("key", "nbytes", "dtype", "location")
    device = torch.device("cpu")

    def __init__(self, key, nbytes, dtype, location):
        self.key, self.nbytes, self.dtype, self.location = key, nbytes, dtype, location

    def size(self):
        return self.nbytes

    def nbytes_(self):
        return self.nbytes

    def cuda(self, device=None, non_blocking=False):  # noqa: ARG002 - torch's signature
        if device is None:
            return _Destination("cuda")
        return _Destination(str(torch.device("cuda", device) if isinstance(device, int)
                                else torch.device(device)))

    def cpu(self):
        return _Destination("cpu")

    def to(self, device, non_blocking=False):  # noqa: ARG002
        return _Destination(str(torch.device(device)))

    def __repr__(self):
        return (f"ptio.StorageInfo(key={self.key!r}, nbytes={self.nbytes}, dtype={self.dtype}, "
                f"location={self.location!r})")


class _Destination:
    __slots__ = ("device",)

    def __init__(self, device):
        self.device = device


def _device_text(d):
    if isinstance(d, torch.device):
        return str(d)
    if isinstance(d, str):
        return str(torch.device(d))  # torch's own spelling checks ("cuda:0", "cpu")
    raise TypeError(f"map_location: expected a str or torch.device, got {type(d).__name__}")


def _callable_where(fn):
    def where(key, nbytes, dtype_name, location):
        info = StorageInfo(key, nbytes, getattr(torch, dtype_name, torch.uint8), location)
        result = fn(info, location)
        if result is None or result is info:
            return None
        if isinstance(result, _Destination):
            return result.device
        if isinstance(result, (str, torch.device)):
            return _device_text(result)
        raise TypeError("map_location callable: return the storage it was given, None, "
                        "storage.cuda(i) / .cpu() / .to(device), a str or a torch.device; "
                        f"got {type(result).__name__}")
    return where


def _where(map_location):
    if map_location is None:
        return None
    if isinstance(map_location, (str, torch.device)):
        return _device_text(map_location)
    if isinstance(map_location, dict):
        return {str(k): _device_text(v) for k, v in map_location.items()}
    if callable(map_location):
        return _callable_where(map_location)
    raise TypeError("map_location: expected None, a str, a torch.device, a dict or a callable; "
                    f"got {type(map_location).__name__}")


def _source(f):
    """A str path, or a bytes-like object, for the C++ loader."""
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f) if not isinstance(os.fspath(f), bytes) else os.fsdecode(os.fspath(f))
    if isinstance(f, (bytes, bytearray, memoryview)):
        return f
    if isinstance(f, io.BytesIO):
        return f.getbuffer()[f.tell():]
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("ptio.load: the file object must be opened in binary mode")
        return data
    raise TypeError("ptio.load: expected a path, a bytes-like object or a binary file object; "
                    f"got {type(f).__name__}")


def _progress(progress):
    """(callback or None, close)."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        if not sys.stderr.isatty():
            return None, lambda: None
        from tqdm import tqdm  # noqa: PLC0415 - only bars need it
        bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="ptio.load")

        def update(done, total):
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)
            return True
        return update, bar.close
    if callable(progress):
        return progress, lambda: None
    raise TypeError("progress: expected None, a bool or a callable(done, total)")


def load(f, map_location=None, *, weights_only=False, mmap=True, progress=None):
    """Read a torch.save file as torch.load(f, map_location, weights_only=True) returns it.

    See the package's README for the full contract; in short: ``f`` is a path, a bytes-like
    object or a binary file object; CPU tensors are zero-copy views of a private copy-on-write
    mapping (``mmap=False``: owned copies); classes ptio does not run come back as
    ``ptio.Opaque``; ``weights_only=True`` refuses every global outside torch's allowlist;
    ``progress`` is True (a tqdm bar on a terminal) or a callable(done, total) whose False
    return cancels the load (ptio.Error with code "cancelled").
    """
    source = _source(f)
    where = _where(map_location)
    report, close = _progress(progress)
    try:
        return _ptio.load(source, where, bool(weights_only), bool(mmap), report)
    finally:
        close()
