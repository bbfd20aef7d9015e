"""ptio.save: write what torch.load reads, from the objects torch.save takes."""

import os

from . import _ptio

__all__ = ["save"]


def _target(f):
    """A str path, or None for a file object (written from memory)."""
    if isinstance(f, (str, os.PathLike)):
        return os.fsdecode(os.fspath(f))
    if hasattr(f, "write"):
        return None
    raise TypeError("ptio.save: expected a path or a binary file object with .write; "
                    f"got {type(f).__name__}")


def _write_all(f, data):
    view = memoryview(data)
    while view.nbytes:
        n = f.write(view)
        if n is None:  # a raw, non-blocking file that took nothing: torch.save would fail too
            raise BlockingIOError("ptio.save: the file object accepted no bytes")
        view = view[n:]


def save(obj, f, *, allow_globals=(), drop_objects=False):
    """Write ``obj`` as torch.save(obj, f) does, in its zip format; torch.load reads it back.

    ``obj`` is built from None, bool, int (any size), float, complex, str, bytes, bytearray,
    list, tuple, set, frozenset, dict, OrderedDict (with its attributes, such as a
    state_dict's ``_metadata``), Counter, defaultdict without a factory, torch.Size,
    torch.dtype, torch.device, torch.layout, torch.memory_format, torch.Tensor and
    nn.Parameter (CPU, CUDA and meta), numpy arrays, scalars and dtypes, and ``ptio.Opaque``
    (what ptio.load gives for a class it does not run). Any other type, a subclass included,
    raises TypeError naming it and where it is (``obj["opt"]["state"][0]``). An object reached
    twice is written once, so torch.load shares it again; one that contains itself raises
    ptio.Error.

    CPU tensor bytes are not copied: the file is written from the tensors' own storages, one
    per storage however many tensors view it, with each tensor's dtype, shape, strides and
    offset. A CUDA storage is copied to the host once. The GIL is released while writing, so
    do not change the tensors from another thread meanwhile.

    ``f`` is a path (str or PathLike; the file appears whole or not at all) or a binary file
    object with ``.write`` (written once the whole file is built in memory).

    Globals outside torch's weights_only allowlist (a ptio.Opaque's class, numpy's
    reconstructors) are refused with ptio.Error (code "unsafe_global") naming each one, unless
    listed in ``allow_globals`` ("numpy.core.multiarray._reconstruct"), or, with
    ``drop_objects=True``, written as None in their place. A global known to run code is never
    written.
    """
    target = _target(f)
    if isinstance(allow_globals, str):
        allow_globals = (allow_globals,)
    allow = [str(g) for g in allow_globals]
    data = _ptio.save(obj, target, allow, bool(drop_objects))
    if target is None:
        _write_all(f, data)
