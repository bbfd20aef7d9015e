"""ptio.load's tree against torch's, for the Python tests.

same_tree(got, want) returns the list of differences (empty: equal) between what ptio.load gave
and what tests/real_load.py's torch_load gave for one file: type for type (dict is not
OrderedDict, Parameter is not Tensor, a numpy scalar is not a float), key for key in order,
floats bit for bit, tensors field for field and byte for byte; a torch Stub (a class the file
names, never imported) against a ptio.Opaque, name, arguments, state, items and entries
compared recursively. Sharing is compared across the whole tree: two tensors share a storage in
ptio's answer exactly when they do in torch's, and two places hold the same object exactly when
they do in torch's (the pickle memo).

Differences are collected, not asserted one by one, so a failing file reports all of them.
"""

import math
import struct

import numpy
import torch

import ptio
from real_load import Stub

# fixtures/make_fixtures.py defines how the manifests hash and group tensors; the tests use the
# same definitions so that the manifests written by another torch compare with ptio directly.
from fixtures.make_fixtures import sha256_of, storage_identity

MAX_REPORTED = 20


def tensor_bytes(t):
    """The bytes of t's whole storage, as uint8 (whatever its dtype, conj or neg flags)."""
    t = t.detach()
    if hasattr(t, "untyped_storage"):  # torch >= 2.0
        s = t.untyped_storage()
    else:
        s = t.storage()._storage  # 1.13: a TypedStorage wrapping an UntypedStorage
    n = s.nbytes()
    return torch.tensor([], dtype=torch.uint8).set_(s, 0, (n,), (1,))


def same_float(a, b):
    return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))


class Comparer:
    def __init__(self):
        self.problems = []
        self.in_progress = set()  # stubs being compared (a cycle ends there)
        self.storage_pairs = {}   # torch storage identity -> ptio storage identity
        self.storage_back = {}
        self.object_pairs = {}    # id(torch object) -> id(ptio object)
        self.object_back = {}
        self.keep = []            # objects whose id() is used, kept alive for the walk

    def bad(self, where, what):
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(f"{where or '<root>'}: {what}")

    def paired(self, table, back, want_key, got_key):
        """True when want_key and got_key pair up the same way everywhere in the tree."""
        if table.setdefault(want_key, got_key) != got_key:
            return False
        return back.setdefault(got_key, want_key) == want_key

    def identity(self, where, got, want):
        if isinstance(want, (int, float, str, bytes, bool, type(None), torch.dtype)):
            return  # interned or immutable values: Python may or may not share them
        self.keep += [got, want]
        if not self.paired(self.object_pairs, self.object_back, id(want), id(got)):
            self.bad(where, "object identity differs from torch's (memo sharing)")

    def compare(self, got, want, where=""):
        if isinstance(want, Stub) or (isinstance(want, type) and issubclass(want, Stub)):
            return self.stub(got, want, where)
        if type(got) is not type(want):
            return self.bad(where, f"type {type(got).__name__}, torch gives {type(want).__name__}")
        self.identity(where, got, want)
        if isinstance(want, torch.Tensor):
            return self.tensor(got, want, where)
        if isinstance(want, torch.storage.TypedStorage):  # a storage saved on its own
            if got.dtype != want.dtype or got.size() != want.size():
                return self.bad(where, f"storage of {got.dtype} x {got.size()}, torch has "
                                       f"{want.dtype} x {want.size()}")
            return self.tensor(torch.tensor([], dtype=got.dtype, device=got.device).set_(got),
                               torch.tensor([], dtype=want.dtype, device=want.device).set_(want),
                               where)
        if isinstance(want, numpy.ndarray):
            return self.array(got, want, where)
        if isinstance(want, dict):
            return self.mapping(got, want, where)
        if isinstance(want, (list, tuple)):  # torch.Size included
            if len(got) != len(want):
                return self.bad(where, f"{len(got)} items, torch has {len(want)}")
            for i, (g, w) in enumerate(zip(got, want)):
                self.compare(g, w, f"{where}[{i}]")
            return None
        if isinstance(want, float):
            if not same_float(got, want):
                self.bad(where, f"{got!r} != {want!r}")
            return None
        if isinstance(want, numpy.generic):
            if got.dtype != want.dtype or got.tobytes() != want.tobytes():
                self.bad(where, f"numpy scalar {got!r} ({got.dtype}), torch {want!r} ({want.dtype})")
            return None
        if got != want:
            self.bad(where, f"{got!r} != {want!r}")
        return None

    def mapping(self, got, want, where):
        if len(got) != len(want):
            return self.bad(where, f"{len(got)} keys {list(got.keys())[:8]}, torch has "
                                   f"{len(want)}: {list(want.keys())[:8]}")
        # Keys in order, each compared as a value: keys may be stubs holding tensors.
        for (gk, gv), (wk, wv) in zip(got.items(), want.items()):
            self.compare(gk, wk, f"{where}.keys()[{wk!r}]")
            self.compare(gv, wv, f"{where}[{wk!r}]")
        for attr in ("_metadata",):
            if hasattr(want, attr) != hasattr(got, attr):
                self.bad(where, f"{attr}: present {hasattr(got, attr)}, torch {hasattr(want, attr)}")
            elif hasattr(want, attr):
                self.compare(getattr(got, attr), getattr(want, attr), f"{where}.{attr}")
        return None

    def stub(self, got, want, where):
        if not isinstance(got, ptio.Opaque):
            return self.bad(where, f"{type(got).__name__}, torch gives a stub of {want._ptio_global}")
        if got.name != want._ptio_global:
            return self.bad(where, f"Opaque {got.name}, torch's stub is {want._ptio_global}")
        self.identity(where, got, want)
        if isinstance(want, type):
            if got.origin != "global":
                self.bad(where, f"origin {got.origin}: torch has the bare class")
            return None
        if id(want) in self.in_progress:  # inside itself (a scheduler and its bound method):
            return None                   # identity() has paired it already
        self.in_progress.add(id(want))
        try:
            self.fields(got, want, where)
        finally:
            self.in_progress.discard(id(want))
        return None

    def fields(self, got, want, where):
        self.compare(tuple(got.args or ()), tuple(want._ptio_args), f"{where}.args")
        self.compare(got.state, want._ptio_state, f"{where}.state")
        self.compare(list(got.items), list(want._ptio_items), f"{where}.items")
        self.compare([tuple(e) for e in got.entries], [tuple(e) for e in want._ptio_entries],
                     f"{where}.entries")
        return None

    def tensor(self, got, want, where):
        for f in ("dtype", "shape", "device", "is_quantized", "is_sparse"):
            if getattr(got, f) != getattr(want, f):
                return self.bad(where, f"{f} {getattr(got, f)}, torch {getattr(want, f)}")
        for f in ("stride", "storage_offset", "is_conj", "is_neg"):
            g, w = getattr(got, f)(), getattr(want, f)()
            if g != w:
                return self.bad(where, f"{f} {g}, torch {w}")
        if got.requires_grad != want.requires_grad:
            self.bad(where, f"requires_grad {got.requires_grad}, torch {want.requires_grad}")
        if want.is_quantized:
            for f in ("qscheme", "q_scale", "q_zero_point"):
                if getattr(got, f)() != getattr(want, f)():
                    self.bad(where, f"{f} {getattr(got, f)()}, torch {getattr(want, f)()}")
        if want.is_meta:
            return None
        if not torch.equal(tensor_bytes(got), tensor_bytes(want)):
            self.bad(where, "storage bytes differ from torch's")
        self.sharing(where, storage_identity(got), storage_identity(want), want)
        return None

    def sharing(self, where, got_storage, want_storage, want):
        # Storages that hold no bytes cannot be told apart by torch's result either way.
        if tensor_bytes(want).numel() == 0:
            return
        if not self.paired(self.storage_pairs, self.storage_back, want_storage, got_storage):
            self.bad(where, "storage sharing differs from torch's")

    def array(self, got, want, where):
        for f in ("dtype", "shape", "strides"):
            if getattr(got, f) != getattr(want, f):
                return self.bad(where, f"{f} {getattr(got, f)}, torch {getattr(want, f)}")
        if want.dtype.hasobject:  # the elements are Python objects: compared as values
            return self.compare(list(got.ravel(order="K")), list(want.ravel(order="K")),
                                f"{where}.elements")
        if numpy.ascontiguousarray(got).tobytes() != numpy.ascontiguousarray(want).tobytes():
            self.bad(where, "array bytes differ from torch's")
        return None


def same_tree(got, want):
    c = Comparer()
    c.compare(got, want)
    return c.problems


def tensors_in(obj, path=(), found=None, seen=None):
    """(dotted name, tensor) for every tensor under obj, through ptio.Opaque states, args,
    items and entries too: the names a TorchScript module's state_dict() gives its attributes."""
    found = [] if found is None else found
    seen = set() if seen is None else seen
    if isinstance(obj, torch.Tensor):
        found.append((".".join(path), obj))
        return found
    if id(obj) in seen:  # a container on the path to itself: walked once
        return found
    seen.add(id(obj))
    if isinstance(obj, dict):
        for key, value in obj.items():
            tensors_in(value, path + (str(key),), found, seen)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            tensors_in(value, path + (str(i),), found, seen)
    elif isinstance(obj, ptio.Opaque):
        tensors_in(obj.state, path, found, seen)
        for i, value in enumerate(obj.items):
            tensors_in(value, path + (str(i),), found, seen)
        for key, value in obj.entries:
            tensors_in(value, path + (str(key),), found, seen)
    return found


__all__ = ["same_tree", "tensors_in", "tensor_bytes", "sha256_of", "storage_identity"]
