#!/usr/bin/env python3
"""Which real checkpoint files (from other projects) ptio reads the way torch 1.13 does.

    real_files.py --ptio PTIO [--root DIR] [--only SUBSTRING] [--report FILE]

DIR (default: <repo>/../shared/fixtures/real) holds MANIFEST.tsv and the files it lists; when
it is absent the script exits 77 (skipped). For each file:

1. torch loads it, never running code the file names: first torch.load(weights_only=True);
   if that fails, torch.load with a pickle module whose find_class allows only torch's own
   rebuild functions, storage classes and dtypes, collections, builtins containers and numpy's
   array reconstruction, and turns every other class into a stub that stores its arguments
   and BUILD state without importing anything. TorchScript files go to torch.jit.load (the C++
   loader, which runs no Python). What torch cannot load is recorded with the reason.
2. torch's result is walked the way ptio names tensors: dict keys, list/tuple/set indices, a stub's call or NEWOBJ arguments
   under "__args__", its BUILD state without a path element, then its appended items and set
   items. Storages saved on their own count as 1-D tensors over the whole storage, numpy arrays
   as tensors. A TorchScript module contributes its state_dict() names.
3. `PTIO ls --json --hash FILE` (60 s limit) is compared: name, dtype, shape, stride,
   storage_offset and sha256 (elements in row-major order, as tests/fixtures/make_fixtures.py).

Classes: PASS (every tensor torch finds is listed with equal fields and nothing else is listed;
for TorchScript, ptio may list more than the state_dict), MISMATCH, PTIO_ERROR (ptio refused
the file cleanly: "ptio: error: ERRC: ..." on stderr), CRASH (a signal, a timeout, an internal
error or any other exit status), TORCH_FAIL_PTIO_OK / TORCH_FAIL_PTIO_ERROR (torch 1.13 cannot
load the file either). Where names cannot match because torch's walk went through stubs (or a
TorchScript module), the multisets of (dtype, shape, stride, offset, sha256) are compared
instead and the line says so.

Exits 1 when a file not in ALLOWLIST is CRASH, MISMATCH, or PTIO_ERROR although torch loads
it; 0 otherwise.
"""

import argparse
import _compat_pickle
import collections
import csv
import hashlib
import inspect
import io
import json
import os
import pickle
import re
import subprocess
import sys
import time
import types
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor

# Files whose failure is accepted, each with the reason (a format we decided not to read, a
# torch behaviour ptio deliberately does not copy). Keys are MANIFEST.tsv "file" values.
# Never add an entry only to make the run pass.
_BE_BOM = ("a 'byteorder' record says big: torch 1.13 ignores it and returns the bytes "
           "unswapped; torch >= 2.0 and ptio swap them (the script checks that ptio's elements "
           "are torch 1.13's byte-swapped)")
ALLOWLIST = {
    "pytorch__pytorch/test__test_serialization.py__lstm.BE.BOM.pt": _BE_BOM,
    "pytorch__pytorch/test__test_serialization.py__tensor.double.BE.BOM.pt": _BE_BOM,
}

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ROOT = os.path.join(HERE, "..", "..", "shared", "fixtures", "real")
PTIO_TIMEOUT = 60
FIELDS = ("dtype", "shape", "stride", "storage_offset", "sha256")

sys.path.insert(0, os.path.join(HERE, "fixtures"))

import numpy  # noqa: E402
import torch  # noqa: E402
from make_fixtures import sha256_of  # noqa: E402

# ----------------------------------------------------------------------------------------------
# Loading with torch without running anything the file names


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
        return ret
    return torch._tensor._rebuild_from_type_v2(lambda *a: ret, new_type, (), state)


def _torch_global(name):
    value = getattr(torch, name, None)
    return value is not None and (
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
REPLACED = {("torch._tensor", "_rebuild_from_type"): _rebuild_from_type,
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


# ----------------------------------------------------------------------------------------------
# Walking torch's result the way ptio names tensors


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


# ----------------------------------------------------------------------------------------------
# ptio


def run_ptio(ptio, path):
    """("ok", listing) | ("error", (errc, message)) | ("crash", why)."""
    try:
        done = subprocess.run([ptio, "ls", "--json", "--hash", path], capture_output=True,
                              timeout=PTIO_TIMEOUT)
    except subprocess.TimeoutExpired:
        return "crash", f"timed out after {PTIO_TIMEOUT} s"
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode < 0:
        return "crash", f"killed by signal {-done.returncode}: {stderr[-300:]}"
    if done.returncode == 0:
        try:
            return "ok", json.loads(done.stdout)
        except ValueError as e:
            return "crash", f"exit status 0 but the output is not JSON ({e})"
    # The CLI's contract: a ptio::error exits 2 with "ptio: error: ERRC: message"
    m = re.search(r"error: ([a-z_]+): (.*)", stderr)
    if done.returncode in (1, 2) and m:
        message = m.group(2).replace(path + ": ", "", 1)
        return "error", (m.group(1), message)
    return "crash", f"exit status {done.returncode}: {stderr[-300:]}"


# ----------------------------------------------------------------------------------------------
# Comparing


def content(r):
    return json.dumps([r[f] for f in FIELDS])


def differences(want, got):
    return [f"{f} {got.get(f)!r} (torch {want[f]!r})" for f in FIELDS
            if want[f] is not None and got.get(f) != want[f]]


def compare(expected, listing, names_may_differ, superset_ok):
    """(PASS or MISMATCH, note)."""
    actual = listing.get("tensors")
    if not isinstance(actual, list):
        return "MISMATCH", 'no "tensors" list in ptio\'s output'
    by_name = collections.defaultdict(list)
    for t in actual:
        by_name[t.get("name")].append(t)
    missing, problems = [], []
    used = collections.Counter()
    for want in expected:
        candidates = by_name.get(want["name"], [])
        i = used[want["name"]]
        if i >= len(candidates):
            missing.append(want["name"])
            continue
        used[want["name"]] += 1
        diff = differences(want, candidates[i])
        if diff:
            problems.append(f"{want['name']!r}: " + ", ".join(diff))
    extra = [t.get("name") for t in actual
             if used[t.get("name")] < len(by_name[t.get("name")])]
    extra = list(dict.fromkeys(extra))
    n = len(expected)
    if not missing and not problems and (not extra or superset_ok):
        note = f"{n} tensors"
        if extra:
            note += f" (+{len(actual) - n} more listed by ptio beyond the state_dict)"
        return "PASS", note
    if missing and names_may_differ and not problems:
        # names through stubs (or a module's attributes) may differ: compare by content
        want = collections.Counter(content(r) for r in expected)
        got = collections.Counter(content(t) for t in actual)
        left = want - got
        if not left and (superset_ok or not got - want):
            return "PASS", (f"{n} tensors matched by content, names differ "
                            f"(torch {shorten(missing)} vs ptio {shorten(extra)})")
    parts = []
    if missing:
        parts.append(f"{len(missing)} of {n} torch tensors not listed: {shorten(missing)}")
    if problems:
        parts.append(f"{len(problems)} differ: " + "; ".join(problems[:3]) +
                     (" ..." if len(problems) > 3 else ""))
    if extra and not superset_ok:
        parts.append(f"{len(extra)} extra listed: {shorten(extra)}")
    return "MISMATCH", "; ".join(parts)


def byteorder_note(expected, listing):
    swapped = [dict(r, sha256=r["sha256_swapped"]) for r in expected]
    if compare(swapped, listing, False, False)[0] == "PASS":
        return ("torch 1.13 ignores the byteorder record 'big'; ptio's elements are torch's "
                "byte-swapped (what torch >= 2.0 reads): ")
    return "byteorder 'big', which torch 1.13 ignores; ptio differs even byte-swapped: "


def shorten(names, keep=4):
    shown = ", ".join(repr(x) for x in names[:keep])
    return "[" + shown + (f", ... +{len(names) - keep}" if len(names) > keep else "") + "]"


# ----------------------------------------------------------------------------------------------


def check(entry, root, ptio_future):
    path = os.path.join(root, entry["file"])
    started = time.monotonic()
    obj, how, torch_failure = torch_load(path, entry["kind"])
    expected, names_may_differ = [], False
    if torch_failure is None:
        try:
            swapped = not TORCH_READS_BYTEORDER and byteorder_record(path) == "big"
            expected, names_may_differ = torch_tensors(obj, how, swapped)
        except Exception as e:  # noqa: BLE001 - a tensor torch built but cannot hash
            torch_failure = f"walking torch's result ({how}): " + failure_text(e)
    del obj
    status, result = ptio_future.result()
    out = {"file": entry["file"], "kind": entry["kind"], "torch": how or "FAIL",
           "torch_tensors": len(expected)}
    if status == "crash":
        out.update(cls="CRASH", detail=result)
    elif torch_failure is not None:
        out["torch_failure"] = torch_failure
        if status == "ok":
            out.update(cls="TORCH_FAIL_PTIO_OK",
                       detail=f"ptio lists {len(result.get('tensors', []))} tensors; torch: "
                              f"{torch_failure}")
        else:
            out.update(cls="TORCH_FAIL_PTIO_ERROR", errc=result[0], message=result[1],
                       detail=f"ptio: {result[0]}: {result[1]}; torch: {torch_failure}")
    elif status == "error":
        out.update(cls="PTIO_ERROR", errc=result[0], message=result[1],
                   detail=f"{result[0]}: {result[1]}")
    else:
        cls, note = compare(expected, result, names_may_differ, superset_ok=how == "jit.load")
        if cls == "MISMATCH" and any("sha256_swapped" in r for r in expected):
            note = byteorder_note(expected, result) + note
        out.update(cls=cls, detail=note)
    out["seconds"] = round(time.monotonic() - started, 2)
    return out


FAILURES = ("CRASH", "MISMATCH", "PTIO_ERROR")


def failing(r):
    return r["cls"] in FAILURES and r["file"] not in ALLOWLIST


def grouping_key(message):
    """A ptio message with its numbers and archive prefix taken out, to group alike ones."""
    message = re.sub(r"^[^:]*/(data\.pkl|[^ :]*): ", r"\1: ", message)
    return re.sub(r"\d+", "N", message)


def summarize(results):
    classes = ["PASS", "MISMATCH", "PTIO_ERROR", "CRASH", "TORCH_FAIL_PTIO_OK",
               "TORCH_FAIL_PTIO_ERROR"]
    by_kind = collections.defaultdict(collections.Counter)
    for r in results:
        by_kind[r["kind"]][r["cls"]] += 1
        by_kind["all"][r["cls"]] += 1
    print()
    print(f"{'kind':<12}{'files':>6}  " + "  ".join(classes))
    for kind in sorted(k for k in by_kind if k != "all") + ["all"]:
        c = by_kind[kind]
        print(f"{kind:<12}{sum(c.values()):>6}  " +
              "  ".join(f"{c[x]:>{len(x)}}" for x in classes))
    errors = collections.defaultdict(list)
    for r in results:
        if "errc" in r:
            errors[(r["cls"], r["errc"], grouping_key(r["message"]))].append(r)
    if errors:
        print("\nptio errors, grouped (class, errc, count: message):")
        for (cls, errc, _), rs in sorted(errors.items(), key=lambda x: (x[0][0], -len(x[1]))):
            print(f"  {cls} {errc} x{len(rs)}: {rs[0]['message']}")
    allowed = [r for r in results if r["cls"] in FAILURES and r["file"] in ALLOWLIST]
    for r in allowed:
        print(f"allowed: {r['file']}: {ALLOWLIST[r['file']]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ptio", required=True, help="the ptio command-line tool")
    parser.add_argument("--root", default=DEFAULT_ROOT, help="folder with MANIFEST.tsv")
    parser.add_argument("--only", help="check only files whose name contains this")
    parser.add_argument("--report", help="write every file's result to this JSON file")
    parser.add_argument("--jobs", type=int, default=2, help="ptio runs at once (default 2)")
    args = parser.parse_args()

    manifest = os.path.join(args.root, "MANIFEST.tsv")
    if not os.path.isfile(manifest):
        print(f"real files: skipped, no {manifest}")
        return 77
    with open(manifest, encoding="utf-8", newline="") as f:
        entries = list(csv.DictReader(f, delimiter="\t"))
    if args.only:
        entries = [e for e in entries if args.only in e["file"]]
    torch.set_num_threads(1)
    started = time.monotonic()
    check_stub_loader()

    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_ptio, args.ptio, os.path.join(args.root, e["file"]))
                   for e in entries]
        for entry, future in zip(entries, futures):
            r = check(entry, args.root, future)
            results.append(r)
            mark = " (allowed)" if r["file"] in ALLOWLIST and r["cls"] in FAILURES else ""
            print(f"{r['cls']:<22} {r['kind']:<11} {r['file']}: {r['detail']}{mark}",
                  flush=True)

    summarize(results)
    bad = [r for r in results if failing(r)]
    print(f"\nreal files: {'FAIL' if bad else 'ok'}: {len(results)} files, {len(bad)} failing "
          f"(CRASH, MISMATCH, or PTIO_ERROR where torch 1.13 loads the file), "
          f"{time.monotonic() - started:.0f} s")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump({"torch": torch.__version__, "files": results}, f, indent=1)
            f.write("\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
