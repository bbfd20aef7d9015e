"""ptio.save against torch: what ptio writes, torch.load reads back equal.

Every torch-written fixture is loaded by torch (tests/real_load.py's torch_load: weights_only
first, else torch's readers behind a stub unpickler), saved by ptio.save, loaded back by torch
the same way and compared type for type, key for key, byte for byte, storage sharing included
(tests/save/writer_oracle.py's compare_loaded). Files whose objects ptio must not write as
they are (stub classes, quantized tensors, numpy's globals) must be refused, clearly; the
classes come back through ptio.load's ptio.Opaque and allow_globals instead.
"""

import collections
import enum
import io
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy
import pytest
import torch

import ptio
from real_load import Stub, load_with_stubs, torch_load
from save.writer_oracle import compare_loaded

NUMPY_GLOBALS = ["numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
                 "numpy.ndarray", "numpy.dtype"]
FOLDERS = [("PTIO_FIXTURE_DIR", ""), ("PTIO_FIXTURE_DIR", "legacy"), ("PTIO_FIXTURE_DIR", "tar"),
           ("PTIO_FIXTURE_DIR", "numpy"), ("PTIO_FIXTURE_DIR", "formats"), ("PTIO_TORCH2_DIR", ""), ("PTIO_SHARDED_DIR", "hf"),
           ("PTIO_SHARDED_DIR", "diffusers"), ("PTIO_STATE_DICT_DIR", "")]


def fixture_files():
    """(folder variable, path) of every fixture, listed at collection time."""
    out = []
    for var, sub in FOLDERS:
        folder = os.path.join(os.environ.get(var, ""), sub)
        if not os.environ.get(var) or not os.path.isdir(folder):
            out.append(pytest.param(var, None, id=f"{var}/{sub}-absent"))
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith((".pt", ".bin", ".tar")):
                out.append(pytest.param(var, os.path.join(folder, name), id=f"{sub or var}/{name}"))
    return out


def plain(obj, memo=None):
    """obj with stubs and numpy values as tuples compare_loaded can compare; sharing kept."""
    memo = {} if memo is None else memo
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, Stub):
        out = ("stub", obj._ptio_global, plain(obj._ptio_args, memo), plain(obj._ptio_state, memo),
               plain(obj._ptio_items, memo), plain(obj._ptio_entries, memo))
    elif isinstance(obj, numpy.ndarray):
        out = ("ndarray", obj.dtype.str, obj.shape, obj.tobytes())
    elif isinstance(obj, numpy.generic):
        out = ("numpy scalar", obj.dtype.str, obj.tobytes())
    elif isinstance(obj, dict):
        out = type(obj)()
        memo[id(obj)] = out
        for k, v in obj.items():
            if isinstance(k, torch.Tensor):  # an optimizer's state, keyed by its parameters
                k = ("tensor key", k.dtype, tuple(k.shape), k.detach().numpy().tobytes())
            out[plain(k, memo)] = plain(v, memo)
        for attr, v in getattr(obj, "__dict__", {}).items():  # a state_dict's _metadata
            setattr(out, attr, plain(v, memo))
    elif type(obj) in (list, tuple):
        out = type(obj)(plain(v, memo) for v in obj)
    else:
        return obj
    memo[id(obj)] = out
    return out


def flags(obj, seen=None):
    """Which of stub, numpy, quantized the object holds."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if isinstance(obj, Stub):
        return {"stub"}
    if isinstance(obj, (numpy.ndarray, numpy.generic)):
        return {"numpy"}
    if isinstance(obj, torch.Tensor):
        return {"quantized"} if obj.is_quantized else set()
    inner = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    return set().union(*(flags(v, seen) for v in inner))


def torch_back(path, how):
    """The saved file as torch reads it: weights_only=True when the original allowed it."""
    if how == "weights_only":
        return torch.load(path, map_location="cpu", weights_only=True)
    with open(path, "rb") as f:
        return load_with_stubs(f)


def assert_same(label, got, want):
    problems = []
    compare_loaded(label, plain(got), plain(want), problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("var,path", fixture_files())
def test_fixture_round_trip(var, path, tmp_path):
    if path is None:
        pytest.skip(f"{var}: no such folder")
    want, how, why = torch_load(path, "")
    if want is None or how == "jit.load":
        pytest.skip(f"not a torch.save object torch 1.13 reads: {why or how}")
    out = os.fspath(tmp_path / "saved.pt")
    held = flags(want)
    if "stub" in held:  # a class torch would import: not a Python object ptio can write
        with pytest.raises(TypeError, match=r"ptio\.save: cannot save ptio_stub\.[\w.]+ at obj"):
            ptio.save(want, out)
        assert not os.path.exists(out)
        return
    if "quantized" in held:
        with pytest.raises(ptio.Error, match="quantized") as e:
            ptio.save(want, out)
        assert e.value.code == "invalid_argument" and not os.path.exists(out)
        return
    allow = []
    if "numpy" in held:  # numpy's reconstructors are outside torch's allowlist
        with pytest.raises(ptio.Error, match=r"numpy\.core\.multiarray\._reconstruct") as e:
            ptio.save(want, out)
        assert e.value.code == "unsafe_global" and not os.path.exists(out)
        allow = NUMPY_GLOBALS
    ptio.save(want, out, allow_globals=allow)
    assert_same(os.path.basename(path), torch_back(out, how), want)
    # ptio.load's own tensors (views of a mapping) are written without a copy just the same
    ptio.save(ptio.load(path, map_location="cpu"), out, allow_globals=allow)
    assert_same(os.path.basename(path) + " via ptio.load", torch_back(out, how), want)


@pytest.mark.parametrize("var,path", fixture_files())
def test_opaque_round_trip(var, path, tmp_path):
    """A file of classes ptio does not run: ptio.load's Opaque tree, saved with its globals
    allowed, is the same pickle to torch's stub reader as the original."""
    if path is None:
        pytest.skip(f"{var}: no such folder")
    want, how, _ = torch_load(path, "")
    if how != "stubs" or "stub" not in flags(want) or "quantized" in flags(want):
        pytest.skip("no classes outside torch's allowlist")
    tree = ptio.load(path)
    names = sorted(opaque_names(tree))
    out = os.fspath(tmp_path / "saved.pt")
    if holds_itself(tree):  # OneCycleLR and its bound method: written with the memo, as pickle does
        ptio.save(tree, out, allow_globals=names)
        got = torch_back(out, "stubs")
        assert_same(os.path.basename(path), acyclic(got), acyclic(want))
        return
    with pytest.raises(ptio.Error, match=names[0].replace(".", r"\.")) as e:
        ptio.save(tree, out)
    assert e.value.code == "unsafe_global" and not os.path.exists(out)
    ptio.save(tree, out, allow_globals=names)
    assert_same(os.path.basename(path), torch_back(out, "stubs"), want)


def acyclic(obj, on_path=None):
    """obj with each object met inside itself replaced by ("cycle to", how many levels up it
    is), stubs as tuples: what assert_same can compare, and which differs where a copy built
    its cycle elsewhere or as two objects."""
    on_path = [] if on_path is None else on_path
    if any(o is obj for o in on_path):
        return ("cycle to", len(on_path) - next(i for i, o in enumerate(on_path) if o is obj))
    on_path.append(obj)
    try:
        if isinstance(obj, Stub):
            return ("stub", obj._ptio_global, acyclic(obj._ptio_args, on_path), acyclic(obj._ptio_state, on_path),
                    acyclic(obj._ptio_items, on_path), acyclic(obj._ptio_entries, on_path))
        if isinstance(obj, dict):
            out = type(obj)()
            for k, v in obj.items():
                out[k] = acyclic(v, on_path)
            return out
        if type(obj) in (list, tuple):
            return type(obj)(acyclic(v, on_path) for v in obj)
        return obj
    finally:
        on_path.pop()


def holds_itself(obj, on_path=None):
    on_path = set() if on_path is None else on_path
    if id(obj) in on_path:
        return True
    if isinstance(obj, ptio.Opaque):
        inner = [obj.args, obj.state, obj.items, obj.entries]
    elif isinstance(obj, dict):
        inner = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        inner = obj
    else:
        return False
    on_path.add(id(obj))
    found = any(holds_itself(v, on_path) for v in inner)
    on_path.discard(id(obj))
    return found


def opaque_names(obj, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if isinstance(obj, ptio.Opaque):
        inner, own = [obj.args, obj.state, obj.items, obj.entries], {obj.name}
    elif isinstance(obj, dict):
        inner, own = list(obj.keys()) + list(obj.values()), set()
    elif isinstance(obj, (list, tuple)):
        inner, own = obj, set()
    else:
        return set()
    return own.union(*(opaque_names(v, seen) for v in inner))


def test_values_and_sharing(tmp_path):
    base = torch.arange(12, dtype=torch.float32)
    sd = collections.OrderedDict(w=base.view(3, 4), row=base.view(3, 4)[1], col=base.view(3, 4)[:, 2])
    sd["p"] = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    sd["frozen"] = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    sd["g"] = torch.ones(3, requires_grad=True)
    sd._metadata = {"": {"version": 1}}
    shared = [1, 2]
    obj = {"sd": sd, "again": sd, "l1": shared, "l2": shared, "same_tensor": [sd["w"], sd["w"]],
           "big": 2 ** 100, "neg": -(2 ** 70), "s": "h\u00e9llo", "t": (1, 2.5, None, True),
           "size": torch.Size([2, 3]), "dtype": torch.bfloat16, "dev": torch.device("cuda", 1),
           "cpu": torch.device("cpu"), "layout": torch.strided, "c": 1 + 2j, "b": b"xy",
           "ba": bytearray(b"z"), "set": {1, 2}, "fs": frozenset({3}), 7: "int key",
           "counter": collections.Counter(a=2), "dd": collections.defaultdict(None, {"k": 1}),
           "empty": torch.empty(0), "meta": torch.empty(2, 3, device="meta")}
    path = os.fspath(tmp_path / "values.pt")
    ptio.save(obj, path)
    got = torch_back(path, "stubs")
    want = dict(obj)
    del want["meta"]  # compared below: meta tensors have no bytes
    meta = got.pop("meta")
    assert meta.is_meta and meta.shape == (2, 3) and meta.dtype == torch.float32
    assert_same("values", got, want)
    assert got["again"] is got["sd"] and got["l1"] is got["l2"]
    assert got["same_tensor"][0] is got["same_tensor"][1]
    assert got["sd"]["row"].storage_offset() == 4 and got["sd"]["col"].stride() == (4,)
    assert type(got["sd"]["p"]) is torch.nn.Parameter and got["sd"]["p"].requires_grad
    assert not got["sd"]["frozen"].requires_grad and got["sd"]["g"].requires_grad
    # a state_dict of tensors only is what torch 1.13's weights_only loader takes
    ptio.save(sd, path)
    assert_same("state_dict", torch.load(path, weights_only=True), sd)


def test_file_objects(tmp_path):
    obj = {"x": torch.arange(5), "n": 3}
    buffer = io.BytesIO()
    buffer.write(b"prefix")
    ptio.save(obj, buffer)
    assert buffer.getvalue().startswith(b"prefix")  # written where the file object stood
    assert_same("BytesIO", torch.load(io.BytesIO(buffer.getvalue()[6:]), weights_only=True), obj)
    path = tmp_path / "f.pt"
    with open(path, "wb") as f:
        ptio.save(obj, f)
    assert_same("open file", torch.load(path, weights_only=True), obj)
    ptio.save(obj, path)  # PathLike
    assert_same("PathLike", torch.load(path, weights_only=True), obj)


class Color(enum.IntEnum):
    RED = 1


class Box:
    pass


@pytest.mark.parametrize("obj,where,type_name", [
    ({"a": [1, Box()]}, "obj['a'][1]", "test_save.Box"),
    ({"opt": {"lr": Color.RED}}, "obj['opt']['lr']", "test_save.Color"),
    ([collections.defaultdict(list)], "obj[0]", "collections.defaultdict"),
    ({"sub": torch.Tensor._make_subclass(type("Sub", (torch.Tensor,), {}), torch.ones(1))},
     "obj['sub']", "Sub"),
    ({"sparse": torch.ones(2).to_sparse()}, "obj['sparse']", "Tensor"),
    ({"model": torch.nn.Linear(2, 2)}, "obj['model']", "state_dict()"),
])
def test_unsupported_types(tmp_path, obj, where, type_name):
    path = tmp_path / "bad.pt"
    with pytest.raises(TypeError) as e:
        ptio.save(obj, path)
    assert f"at {where}" in str(e.value) and type_name in str(e.value), str(e.value)
    assert not path.exists()


def test_lazy_conjugate_written_resolved(tmp_path):
    z = torch.tensor([1 + 2j, 3 - 4j])
    lazy = {"conj": z.conj(), "neg": z.conj().imag}
    assert lazy["conj"].is_conj() and lazy["neg"].is_neg()
    path = tmp_path / "conj.pt"
    ptio.save(lazy, path)
    back = torch.load(path, weights_only=True)
    assert not back["conj"].is_conj() and not back["neg"].is_neg()
    assert torch.equal(back["conj"], torch.tensor([1 - 2j, 3 + 4j]))
    assert torch.equal(back["neg"], torch.tensor([-2.0, 4.0]))


def test_quantized_refused(tmp_path):
    q = torch.quantize_per_tensor(torch.ones(4), 0.5, 0, torch.qint8)
    path = tmp_path / "q.pt"
    with pytest.raises(ptio.Error, match="quantized") as e:
        ptio.save({"q": q}, path)
    assert e.value.code == "invalid_argument" and not path.exists()


def test_cycle_written(tmp_path):
    """A list inside itself is written as pickle writes it (memoised, then a get), so torch
    loads the one list; an object made of nothing but itself cannot be pickled: refused."""
    loop = [1]
    loop.append(loop)
    path = os.fspath(tmp_path / "cycle.pt")
    ptio.save({"l": loop, "t": torch.arange(3)}, path)
    back = torch.load(path, weights_only=True)
    assert back["l"][0] == 1 and back["l"][1] is back["l"] and torch.equal(back["t"], torch.arange(3))
    selfish = ptio.Opaque("mypackage.Thing", "call", ())
    selfish.args = (selfish,)
    with pytest.raises(ptio.Error, match=r"obj\['x'\]\.args\[0\] \(inside itself\), which pickle cannot build") as e:
        ptio.save({"x": selfish}, tmp_path / "selfish.pt", allow_globals="mypackage.Thing")
    assert e.value.code == "invalid_argument" and not os.path.exists(tmp_path / "selfish.pt")


def test_opaque_policy(tmp_path):
    thing = ptio.Opaque("mypackage.Thing", "instance", (1,), {"a": torch.ones(2)})
    path = os.fspath(tmp_path / "o.pt")
    with pytest.raises(ptio.Error, match=r"mypackage\.Thing") as e:
        ptio.save({"x": thing}, path)
    assert e.value.code == "unsafe_global" and not os.path.exists(path)
    ptio.save({"x": thing, "y": 2}, path, drop_objects=True)
    assert torch.load(path, weights_only=True) == {"x": None, "y": 2}
    ptio.save({"x": thing}, path, allow_globals="mypackage.Thing")
    stub = torch_back(path, "stubs")["x"]
    assert stub._ptio_global == "mypackage.Thing" and stub._ptio_args == (1,)
    assert torch.equal(stub._ptio_state["a"], torch.ones(2))
    with pytest.raises(ptio.Error, match="runs code") as e:  # never, whatever the options
        ptio.save(ptio.Opaque("os.system", "call", ("true",)), path, allow_globals=["os.system"])


def test_bad_targets(tmp_path):
    with pytest.raises(IsADirectoryError) as e:
        ptio.save({"a": 1}, tmp_path)
    assert isinstance(e.value, ptio.Error) and e.value.code == "io_error"
    with pytest.raises(FileNotFoundError):
        ptio.save({"a": 1}, tmp_path / "no" / "such" / "dir.pt")
    with pytest.raises(TypeError, match="path or a binary file object"):
        ptio.save({"a": 1}, 42)


NO_COPY = textwrap.dedent("""
    import resource, sys, torch, ptio
    n = 256 << 20
    t = torch.ones(n // 4)  # every page touched: resident
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = peak()
    ptio.save({"t": t, "view": t[1:]}, sys.argv[1])
    saved = peak() - before
    before = peak()
    copy = bytes(t.numpy())  # the control: a copy is seen
    copied = peak() - before
    print(saved, copied, n)
""")


def test_no_copy_of_cpu_bytes(tmp_path):
    """Peak RSS while saving a 256 MiB tensor grows by far less than the tensor: the bytes go
    from torch's storage to the file. The control copy in the same process shows the
    measurement sees a copy."""
    path = os.fspath(tmp_path / "big.pt")
    done = subprocess.run([sys.executable, "-c", NO_COPY, path], capture_output=True, text=True,
                          env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    saved, copied, n = map(int, done.stdout.split())
    assert copied > n * 0.9, f"the control copy raised the peak by only {copied} bytes"
    assert saved < n // 8, f"saving raised the peak RSS by {saved} bytes for a {n}-byte tensor"
    back = torch.load(path, weights_only=True)
    assert back["view"].storage().data_ptr() == back["t"].storage().data_ptr()
    assert bool((back["t"] == 1).all())


def test_gil_released_while_writing(tmp_path):
    """The main thread keeps waking from short sleeps while another thread saves 128 MiB: it
    could not if the save held the GIL (a sleeping thread needs it back to return)."""
    t = torch.ones(32 << 20)
    span = {}

    def saver():
        span["start"] = time.perf_counter()
        ptio.save({"t": t}, tmp_path / "big.pt")
        span["end"] = time.perf_counter()

    worker = threading.Thread(target=saver)
    ticks = []
    worker.start()
    while worker.is_alive():
        time.sleep(0.002)
        ticks.append(time.perf_counter())
    worker.join()
    inside = [x for x in ticks if span["start"] < x < span["end"]]
    took = span["end"] - span["start"]
    # held throughout, at most the ticks of the Python-level start and end would land inside
    assert len(inside) >= min(10, took / 0.004), f"{len(inside)} wake-ups in a {took:.3f} s save"
